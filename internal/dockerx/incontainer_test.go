package dockerx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetectSelf(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	id := strings.Repeat("ab12", 16)
	env := write("dockerenv", "")
	// cgroup v2 with a private cgroup namespace: only mountinfo names the container.
	mounts := write("mountinfo", "612 590 0:50 / / rw,relatime - overlay overlay rw\n"+
		"630 612 8:1 /var/lib/docker/containers/"+id+"/resolv.conf /etc/resolv.conf rw - ext4 /dev/sda1 rw\n")
	cg2 := write("cgroup2", "0::/\n")
	cg1 := write("cgroup1", "12:memory:/docker/"+id+"\n")
	none := write("none", "1 0 0:1 / / rw - ext4 /dev/sda1 rw\n")
	for _, c := range []struct {
		name  string
		env   string
		files []string
		want  string
	}{
		{"host", filepath.Join(dir, "absent"), []string{mounts}, ""},
		{"mountinfo", env, []string{mounts, cg2}, id},
		{"cgroup v1", env, []string{none, cg1}, id},
		{"container, id unreadable", env, []string{none, cg2}, unknownContainer},
	} {
		if got := detectSelf(c.env, c.files...); got != c.want {
			t.Errorf("%s: detectSelf = %q, want %q", c.name, got, c.want)
		}
	}
}
