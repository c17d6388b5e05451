// Command alloc holds a known amount of memory for memstat's integration test: it allocates -mib MiB, writes
// every page so the kernel really backs it, prints "ready" and waits for SIGTERM/SIGINT.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	mib := flag.Int("mib", 64, "MiB to allocate and touch")
	flag.Parse()
	buf := make([]byte, *mib<<20)
	for i := 0; i < len(buf); i += os.Getpagesize() {
		buf[i] = 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("ready")
	<-sig
	runtime.KeepAlive(buf) // the buffer must stay live (and resident) until the end
}
