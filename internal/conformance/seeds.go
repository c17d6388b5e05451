package conformance

import "github.com/agentlab/agentlab/internal/conformance/wsclient"

// SeedMessages are the application messages of the suite's cases, for fuzz corpora and stream generators that want
// realistic input: self is the sender's id, peer another registered agent's, group a group peer belongs to. The
// list holds the valid messages (register, send, broadcast, group, ping) and every malformed message of the
// malformed cases, as the text frame payloads the cases send.
func SeedMessages(self, peer, group string) [][]byte {
	seq := func(v uint64) *uint64 { return &v }
	ts := int64(1732556000123456789)
	out := [][]byte{
		[]byte(`{"type":"register","id":"` + self + `"}`),
		[]byte(`{"type":"register","id":"` + self + `","groups":["` + group + `"]}`),
		wsclient.SendFrame(peer, wsclient.Msg{Seq: seq(1), TS: &ts, Payload: []byte(`{"text":"hi","n":[1,2.5e3,null]}`)}),
		wsclient.SendFrame(self, wsclient.Msg{Seq: seq(2)}),
		wsclient.BroadcastFrame(wsclient.Msg{Seq: seq(3), Payload: []byte(`"status?"`)}),
		wsclient.GroupFrame(group, wsclient.Msg{Seq: seq(4), Payload: []byte(`{"task":1}`)}),
		wsclient.PingFrame(seq(5), &ts),
		[]byte(`{"type":"send","to":"nobody","seq":6}`),
		[]byte(`{"type":"group","group":"nogroup","seq":7}`),
		[]byte(`{"type":"send","to":"` + peer + `","seq":18446744073709551615,"payload":"\u00e9\ud83d\ude00"}`),
		[]byte("{\"type\":\"send\",\"to\":\"" + peer + "\",\"seq\":19,\"payload\":\"\xff\xfe\"}"),
	}
	for _, b := range badFrames(self) {
		out = append(out, []byte(b.raw))
	}
	return out
}
