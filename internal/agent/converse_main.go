package agent

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"
)

type converseOpts struct {
	bus, id, lab           string
	retransmit, ping, dead time.Duration
	maxRun                 time.Duration
}

func converseFlags(fs *flag.FlagSet) *converseOpts {
	o := &converseOpts{}
	fs.StringVar(&o.bus, "bus", "ws://bus:8080/ws", "converse: the bus's WebSocket URL")
	fs.StringVar(&o.id, "id", "", "converse: this agent's id on the bus")
	fs.StringVar(&o.lab, "lab", "lab", "converse: the lab's id on the bus (\"\" = no lab)")
	fs.DurationVar(&o.retransmit, "retransmit", 500*time.Millisecond, "converse: resend a turn not answered for this long")
	fs.DurationVar(&o.ping, "ping", time.Second, "converse: ping the bus this often")
	fs.DurationVar(&o.dead, "dead", 3*time.Second, "converse: a connection silent this long is dead")
	fs.DurationVar(&o.maxRun, "max-run", time.Hour, "converse: exit after this long whatever happens")
	return o
}

func (o *converseOpts) run(ctx context.Context, kib int, leak *Leak, stdout, stderr io.Writer) int {
	if o.id == "" {
		fmt.Fprintf(stderr, "agent: converse needs --id\n%s\n", usage)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, o.maxRun)
	defer cancel()
	url := o.bus
	err := Converse(ctx, ConverseConfig{URL: func(context.Context) (string, error) { return url, nil }, ID: o.id,
		Lab: o.lab, KiB: kib, Leak: leak, Retransmit: o.retransmit, Ping: o.ping, Dead: o.dead, Out: stdout})
	if err != nil {
		fmt.Fprintf(stderr, "agent: %v\n", err)
		return 1
	}
	return 0
}
