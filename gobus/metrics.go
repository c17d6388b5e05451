package gobus

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// errCode is a wire error code (docs/protocol.md, Errors) or too_large, which is only counted.
type errCode uint8

const (
	codeMalformed errCode = iota
	codeNotRegistered
	codeAlreadyRegistered
	codeDuplicateID
	codeUnknownTarget
	codeUnknownGroup
	codeTooLarge
	numErrCodes
)

var errCodeNames = [numErrCodes]string{
	"malformed", "not_registered", "already_registered", "duplicate_id", "unknown_target", "unknown_group", "too_large",
}

func (c errCode) String() string { return errCodeNames[c] }

// outType is the type of a bus → client frame.
type outType uint8

const (
	outMsg outType = iota
	outRegistered
	outPong
	outError
	numOutTypes
)

var outTypeNames = [numOutTypes]string{"msg", "registered", "pong", "error"}

// metrics holds one Server's collectors. Labelled series are resolved once into plain handles so the hot path
// does an atomic add, never a label lookup.
type metrics struct {
	reg *prometheus.Registry

	connections prometheus.Gauge
	accepted    prometheus.Counter
	rejectedMax prometheus.Counter
	// rejectedHead counts connections that ended before a valid request head (headwatch.go).
	rejectedHead prometheus.Counter
	registered   prometheus.Gauge
	messagesIn   [numMsgTypes]prometheus.Counter
	messagesOut  [numOutTypes]prometheus.Counter
	deliveries   [numModes]prometheus.Counter
	bytesIn      prometheus.Counter
	bytesOut     prometheus.Counter
	droppedSlow  prometheus.Counter
	// droppedPlanted counts msg deliveries dropped by Options.PlantDropEvery (a planted fault; 0 otherwise).
	droppedPlanted prometheus.Counter
	// droppedPong counts pongs not sent to a peer that pings without reading (netpoll: beyond maxCtrlBacklog of
	// unsent bytes; gorilla: the socket took no pong within its 1 s deadline).
	droppedPong prometheus.Counter
	errors      [numErrCodes]prometheus.Counter
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)
	m := &metrics{reg: reg}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		reg.MustRegister(g)
		return g
	}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	counterVec := func(name, help, label string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
		reg.MustRegister(v)
		return v
	}

	m.connections = gauge("bus_connections", "Open WebSocket connections.")
	m.accepted = counter("bus_connections_accepted_total", "WebSocket connections accepted.")
	rejected := counterVec("bus_rejected_connections_total", "Connections refused: upgrades over max_connections, "+
		"connections closed before a valid request head.", "reason")
	m.rejectedMax = rejected.WithLabelValues("max_connections")
	m.rejectedHead = rejected.WithLabelValues("no_request_head")
	m.registered = gauge("bus_registered_agents", "Connections holding a registered agent id.")
	in := counterVec("bus_messages_in_total", "Client frames received, by type.", "type")
	for t := range m.messagesIn {
		m.messagesIn[t] = in.WithLabelValues(msgTypeNames[t])
	}
	out := counterVec("bus_messages_out_total", "Frames queued for writing, by type.", "type")
	for t := range m.messagesOut {
		m.messagesOut[t] = out.WithLabelValues(outTypeNames[t])
	}
	del := counterVec("bus_deliveries_total", "msg frames queued to recipients, by routing mode.", "mode")
	for md := range m.deliveries {
		m.deliveries[md] = del.WithLabelValues(modeNames[md])
	}
	m.bytesIn = counter("bus_bytes_in_total", "Payload bytes of text frames received.")
	m.bytesOut = counter("bus_bytes_out_total", "Payload bytes of text frames queued for writing.")
	dropped := counterVec("bus_dropped_total", "Frames dropped.", "reason")
	m.droppedSlow = dropped.WithLabelValues("slow_consumer")
	m.droppedPlanted = dropped.WithLabelValues("planted")
	m.droppedPong = dropped.WithLabelValues("pong")
	errs := counterVec("bus_errors_total", "Errors, by code.", "code")
	for c := range m.errors {
		m.errors[c] = errs.WithLabelValues(errCodeNames[c])
	}
	return m
}
