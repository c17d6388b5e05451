package loadgen

import (
	"testing"
)

// The generator's hot paths, per message (key=value names; compare builds with benchstat).

// busMsg is a delivery as gobus writes it (the Rust bus's differs only in spacing-free field order, not length).
var busMsg = []byte(`{"type":"msg","mode":"direct","from":"g00-a000017","to":"g00-a000042","seq":1000000000170000042,` +
	`"ts":1764759600123456789,"payload":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)

func BenchmarkScanFrame(b *testing.B) {
	b.Run("frame=msg/payload=64", func(b *testing.B) {
		b.SetBytes(int64(len(busMsg)))
		b.ReportAllocs()
		for b.Loop() {
			m, err := scanFrame(busMsg)
			if err != nil || !m.hasSeq || !m.hasTS {
				b.Fatal(m, err)
			}
		}
	})
}

// BenchmarkSenderAdd is one closed-model message: template patched, framed and masked into the batch.
func BenchmarkSenderAdd(b *testing.B) {
	for _, pattern := range []string{PatternTargeted, PatternBroadcast} {
		b.Run("pattern="+pattern, func(b *testing.B) {
			g := &gen{cfg: DefaultConfig()}
			g.cfg.Pattern = pattern
			ls := &liveSet{}
			for i := range 100 {
				ls.list = append(ls.list, &agent{g: g, num: i, pos: i, id: []byte(AgentID(0, i)), c: &wsConn{fd: -1}})
			}
			s := g.newSender(ls.list[0], ls)
			b.ReportAllocs()
			for b.Loop() {
				s.add(1764759600123456789)
				if len(s.buf) > 32<<10 {
					s.buf = s.buf[:0]
				}
			}
		})
	}
}

// BenchmarkRxParse is the receive side without the socket: 32 deliveries in one read, parsed and scanned.
func BenchmarkRxParse(b *testing.B) {
	var stream []byte
	for range 32 {
		stream = append(stream, 0x81, 126, 0, byte(len(busMsg)))
		stream = append(stream, busMsg...)
	}
	b.Run("frames=32", func(b *testing.B) {
		c := &wsConn{fd: -1}
		b.SetBytes(int64(len(stream)))
		b.ReportAllocs()
		for b.Loop() {
			in := stream
			for {
				msg, used, err := c.nextMessage(in)
				if err != nil {
					b.Fatal(err)
				}
				if used == 0 {
					break
				}
				in = in[used:]
				if _, err := scanFrame(msg); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
