package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"
)

// markdown writes the report as Markdown (the plots are only in the HTML).
func (d *doc) markdown(w io.Writer) {
	fmt.Fprintf(w, "# %s\n", d.Title)
	if d.Planted != "" {
		fmt.Fprintf(w, "\n<span style=\"color:red\">**%s**</span>\n", d.Planted)
	}
	cell := func(s string) string {
		return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
	}
	for _, s := range d.Sections {
		fmt.Fprintf(w, "\n## %s\n", s.Title)
		for _, t := range s.Text {
			fmt.Fprintf(w, "\n%s\n", t)
		}
		for _, t := range s.Tables {
			if t.Caption != "" {
				fmt.Fprintf(w, "\n*%s*\n", t.Caption)
			}
			fmt.Fprintln(w)
			fmt.Fprintf(w, "| %s |\n", strings.Join(t.Header, " | "))
			fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(t.Header)))
			for _, r := range t.Rows {
				cs := make([]string, len(r))
				for i, c := range r {
					cs[i] = cell(c)
				}
				fmt.Fprintf(w, "| %s |\n", strings.Join(cs, " | "))
			}
		}
		for _, p := range s.Plots {
			fmt.Fprintf(w, "- %s (%s)\n", p.Title, p.Caption)
		}
		if s.Pre != "" {
			fmt.Fprintf(w, "\n```text\n%s```\n", s.Pre)
		}
	}
}

// The page: no script, no external stylesheet, no font or image request; the SVG is inline.
var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"svg":  func(s string) template.HTML { return template.HTML(s) },
	"bold": bold,
	"cls": func(s string) template.HTMLAttr {
		if s == "yes" || s == "no" || s == "inconclusive" {
			return template.HTMLAttr(` class="` + s + `"`)
		}
		return ""
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:">
<title>{{.Title}}</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:80em;color:#222}
table{border-collapse:collapse;margin:.8em 0;font-size:90%}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}
pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:80%}
figure{display:inline-block;margin:1em 1em 1em 0;vertical-align:top}
figcaption{font-size:80%;color:#555;max-width:40em}
td.yes{background:#e3f6e3} td.no{background:#fbe3e3} td.inconclusive{background:#fff6d6}
</style></head><body>
<h1>{{.Title}}</h1>
{{if .Planted}}<p class="planted" style="color:#c00;font-weight:bold;font-size:120%;border:2px solid #c00;padding:.5em">{{.Planted}}</p>
{{end}}
{{range .Sections}}<section><h2>{{.Title}}</h2>
{{range .Text}}<p>{{bold .}}</p>
{{end}}{{range .Tables}}{{if .Caption}}<h3>{{.Caption}}</h3>{{end}}<table><thead><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr></thead><tbody>
{{range .Rows}}<tr>{{range .}}<td{{cls .}}>{{.}}</td>{{end}}</tr>
{{end}}</tbody></table>
{{end}}{{range .Plots}}<figure id="plot"><figcaption><b>{{.Title}}</b></figcaption>{{svg .SVG}}<figcaption>{{.Caption}}</figcaption></figure>
{{end}}{{if .Pre}}<pre>{{.Pre}}</pre>{{end}}</section>
{{end}}</body></html>
`))

// bold turns the Markdown **…** of a text line into <b>, escaping the rest.
func bold(s string) template.HTML {
	parts := strings.Split(s, "**")
	var b strings.Builder
	for i, p := range parts {
		if i%2 == 1 {
			b.WriteString("<b>" + template.HTMLEscapeString(p) + "</b>")
		} else {
			b.WriteString(template.HTMLEscapeString(p))
		}
	}
	return template.HTML(b.String())
}

func (d *doc) html(w io.Writer) error {
	if err := page.Execute(w, d); err != nil {
		return fmt.Errorf("render report.html: %w", err)
	}
	return nil
}
