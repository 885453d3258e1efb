package live_test

import (
	"errors"
	"fmt"
	"github.com/ompscope/ompscope/dissect/filter"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/live"
	"github.com/ompscope/ompscope/dissect/tlsdec"
)

// Example shows a live capture loop: the default filter, a key log
// followed while capturing, the capture saved as pcapng with the keys,
// a status line, and a clean stop on SIGINT/SIGTERM. (It needs root and
// an interface, so it is compiled but not run by go test.)
func Example() {
	ks := tlsdec.NewKeyStore()
	src, err := live.Open("eth0", live.Options{
		Filter:  filter.Default(dissect.ControllerDTLSPorts(), []uint16{dissect.DefaultTLSPort}),
		Timeout: time.Second, // Next returns ErrTimeout when the line is quiet
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ompscope:", err) // a *live.PermissionError says what is missing
		return
	}
	defer src.Close()

	out, err := os.Create("capture.pcapng")
	if err != nil {
		return
	}
	w, err := capture.NewPcapngWriterInterface(out, capture.PcapngInterface{
		LinkType: src.LinkType(), Name: src.Interface(), Filter: src.Filter().String(), SnapLen: src.SnapLen(),
	})
	if err != nil {
		return
	}

	// Keys already in the file are loaded (and written to the pcapng file
	// before any packet) by FollowKeyLog; later ones as they are appended.
	var newKeys atomic.Bool
	kl := tlsdec.FollowKeyLog("keys.log", ks, 0, func(u *tlsdec.KeyLogUpdate) {
		for _, e := range u.Errors {
			fmt.Fprintln(os.Stderr, "ompscope:", e)
		}
		w.WriteSecrets(u.Lines)
		if u.Added > 0 {
			newKeys.Store(true)
			src.Wake() // let the loop retry the sessions waiting for a key
		}
	})

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; src.Stop() }() // Next drains the socket, then io.EOF

	d := dissect.New(dissect.Config{Keys: ks}, func(ev *dissect.Event) { /* to the analyzer */ })
	start, lastStatus := time.Now(), time.Now()
	var p capture.Packet
	for {
		err := src.Next(&p)
		if err == nil {
			w.WritePacket(&p)
			d.Packet(&p)
		} else if errors.Is(err, io.EOF) {
			break
		} else if !errors.Is(err, live.ErrTimeout) {
			fmt.Fprintln(os.Stderr, "ompscope:", err)
			break
		}
		if newKeys.Swap(false) {
			d.Retry()
		}
		if time.Since(lastStatus) >= 5*time.Second {
			lastStatus = time.Now()
			st, _ := src.Stats()
			fmt.Fprintf(os.Stderr, "%d packets, %d dropped by the kernel\n", st.Packets, st.KernelDropped)
			w.Flush()
		}
	}
	kl.Stop() // a last look at the key log
	d.Retry()
	d.Finish()
	st, _ := src.Stats()
	w.WriteStats(st.KernelReceived, st.KernelDropped, start, time.Now())
	w.Close()
	out.Close()
}
