//go:build linux

// Command loopbench measures how fast dissect/live captures: it sends UDP
// datagrams on the loopback interface (127.0.0.1 only) to a controller
// DTLS port at increasing rates while a capture loop reads them through a
// live.Source with the default kernel filter, and reports, per rate, what
// was sent, what was captured, the kernel's drop count and the CPU time of
// the sending and capturing threads. It ends with the highest rate
// captured without a single kernel drop and what limited it.
//
// With -jobs N the packets go through the pipeline the commands use,
// Dissector.RunSource with N workers (sniff runs it so on an interface),
// instead of a loop of its own; the capture CPU is then the process's,
// less the sending threads': it includes the Go runtime's scheduling and
// collector and this program's own polling, so it is not comparable with
// the capturing thread's CPU of the other modes.
//
// It needs root (or CAP_NET_RAW). Every step is bounded in time and
// packet count. Usage (see also ../../bench/loopback.sh):
//
//	go run ./pcaps/bench/loopbench [-rates 50000,100000,...] [-step 2s] [-size 120] [-dissect] [-jobs N] [-impl live|pcapgo]
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"github.com/ompscope/ompscope/dissect/filter"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/ompscope/ompscope/dissect"
	"github.com/ompscope/ompscope/dissect/capture"
	"github.com/ompscope/ompscope/dissect/live"
)

const maxPacketsPerStep = 5_000_000

func main() {
	ratesFlag := flag.String("rates", "25000,50000,100000,150000,200000,300000,400000,600000", "comma-separated packet rates (packets/s) to try, in order")
	step := flag.Duration("step", 2*time.Second, "sending time per rate (at most 10s)")
	size := flag.Int("size", 120, "UDP payload bytes (a DTLS application-data record)")
	port := flag.Int("port", 12346, "destination UDP port on 127.0.0.1 (a controller DTLS port passes the default filter)")
	doDissect := flag.Bool("dissect", false, "also run each packet through dissect.Dissector.Packet (no keys)")
	jobs := flag.Int("jobs", 0, "run the packets through Dissector.RunSource with this many workers, the commands' pipeline (0: a loop of its own; -impl live only)")
	impl := flag.String("impl", "live", "capture implementation: live (dissect/live.Source) or pcapgo (gopacket pcapgo.EthernetHandle, for comparison)")
	bufSize := flag.Int("buffer", 0, "socket receive buffer in bytes (0: live.DefaultBufferSize; pcapgo: kernel default)")
	keepGoing := flag.Bool("keep-going", false, "try every rate even after drops")
	senders := flag.Int("senders", 2, "sending threads (each with its own socket) sharing the rate")
	flag.Parse()

	var rates []int
	for _, f := range strings.Split(*ratesFlag, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 || r > 5_000_000 {
			fatalf("bad rate %q", f)
		}
		rates = append(rates, r)
	}
	if *step <= 0 || *step > 10*time.Second {
		fatalf("-step must be in (0, 10s]")
	}
	if *size < 13 || *size > 1400 {
		fatalf("-size must be 13..1400")
	}
	if *port <= 0 || *port > 65535 {
		fatalf("bad -port")
	}
	if *senders < 1 || *senders > 8 {
		fatalf("-senders must be 1..8")
	}
	if *jobs < 0 || *jobs > 64 || *jobs > 0 && *impl != "live" {
		fatalf("-jobs must be 0..64, and needs -impl live")
	}

	// The receiver exists so that no ICMP port-unreachable comes back; it
	// is never read (its buffer overflows, which costs nothing here).
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: *port})
	if err != nil {
		fatalf("binding 127.0.0.1:%d: %v", *port, err)
	}
	defer srv.Close()
	srv.SetReadBuffer(4096)

	capt, err := newCapturer(*impl, *bufSize, *doDissect, *jobs)
	if err != nil {
		fatalf("%v", err)
	}
	defer capt.close()

	fmt.Printf("machine: %d CPUs (%s), kernel %s, GOMAXPROCS %d\n", runtime.NumCPU(), cpuModel(), kernel(), runtime.GOMAXPROCS(0))
	fmt.Printf("load average at start: %s\n", loadavg())
	fmt.Printf("capture: %s; %d-byte UDP payloads (%d-byte frames) to 127.0.0.1:%d from %d sending threads; %v per rate; dissect=%v\n",
		capt.describe(), *size, *size+42, *port, *senders, *step, *doDissect || *jobs > 0)
	fmt.Printf("%10s %10s %10s %10s %8s %9s %9s  %s\n", "target/s", "sent/s", "captured", "drops", "lost", "capt CPU", "send CPU", "note")
	if *jobs > 0 {
		fmt.Printf("(CPU: in percent of one CPU over the step, so past 100%% with workers on several; capt CPU is the whole process less the sending threads, runtime and collector included; send CPU sums the sending threads)\n")
	} else {
		fmt.Printf("(CPU: share of one CPU over the step; capt CPU is the capturing thread's; send CPU sums the sending threads)\n")
	}

	best := 0
	limit := ""
	for _, rate := range rates {
		r := runStep(capt, rate, *step, *size, *port, *senders)
		note := ""
		sendBound := r.sentRate < 0.95*float64(rate)
		clean := r.drops == 0 && r.captured >= r.sent
		switch {
		case r.drops > 0:
			note = "kernel drops"
		case r.captured < r.sent:
			note = "not all captured"
		case sendBound:
			note = "sender below target"
		}
		fmt.Printf("%10d %10.0f %10d %10d %8d %8.0f%% %8.0f%%  %s\n", rate, r.sentRate, r.captured, r.drops, int64(r.sent)-int64(r.captured), 100*r.captCPU, 100*r.sendCPU, note)
		if clean {
			if int(r.sentRate) > best {
				best = int(r.sentRate)
			}
			limit = ""
			if sendBound {
				limit = fmt.Sprintf("the senders: they reached only %.0f packets/s, using %.0f%% of a CPU in all (on loopback the whole receive path — including the packet socket's filter and queueing — runs in the sending thread); below 100%% per sender means they were waiting for a CPU", r.sentRate, 100*r.sendCPU)
			}
			continue
		}
		limit = fmt.Sprintf("the capture at %d packets/s: capturing thread at %.0f%% of a CPU, senders at %.0f%%", rate, 100*r.captCPU, 100*r.sendCPU)
		if *jobs > 0 {
			limit = fmt.Sprintf("the capture at %d packets/s: the process less the senders at %.0f%% of a CPU (runtime and collector included), senders at %.0f%%", rate, 100*r.captCPU, 100*r.sendCPU)
			if r.captCPU+r.sendCPU > 0.9*float64(runtime.NumCPU()) {
				limit += " — every CPU was busy"
			}
		} else if r.captCPU > 0.85 {
			limit += " — the capturing thread is CPU-bound (one recvmsg system call per packet)"
		} else {
			limit += " — the capturing thread had CPU time to spare: it was not scheduled often enough (all CPUs busy) and the socket buffer filled"
		}
		if !*keepGoing {
			break
		}
	}
	fmt.Printf("load average at end: %s\n", loadavg())
	fmt.Printf("highest rate with 0 kernel drops: %d packets/s\n", best)
	if limit != "" {
		fmt.Printf("limited by %s\n", limit)
	} else {
		fmt.Printf("no limit reached within the rates tried\n")
	}
}

type stepResult struct {
	sent, captured, drops uint64
	sentRate              float64
	captCPU, sendCPU      float64 // fraction of one CPU over the step
}

func runStep(c *capturer, rate int, dur time.Duration, size, port, senders int) stepResult {
	st0 := c.stats()
	capCPU0 := c.cpu()
	count0 := c.count.Load()

	var sent atomic.Uint64
	var sendCPU atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tid := int64(unix.Gettid())
			cpu0 := threadCPU(tid)
			sent.Add(send((rate+senders-1)/senders, dur, size, port))
			sendCPU.Add(int64(threadCPU(tid) - cpu0))
		}()
	}
	wg.Wait()
	sendWall := time.Since(t0)
	// Let the capture drain what the kernel queued.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		st := c.stats()
		if c.count.Load()-count0 >= (st.KernelReceived-st0.KernelReceived)-(st.KernelDropped-st0.KernelDropped) &&
			st.KernelReceived-st0.KernelReceived >= sent.Load() {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := c.stats()
	capCPU := c.cpu() - capCPU0
	if c.jobs > 0 {
		capCPU -= time.Duration(sendCPU.Load()) // the process's, less the senders'
	}
	return stepResult{
		sent:     sent.Load(),
		captured: c.count.Load() - count0,
		drops:    st.KernelDropped - st0.KernelDropped,
		sentRate: float64(sent.Load()) / sendWall.Seconds(),
		captCPU:  capCPU.Seconds() / sendWall.Seconds(),
		sendCPU:  time.Duration(sendCPU.Load()).Seconds() / sendWall.Seconds(),
	}
}

// send paces DTLS-record-like datagrams at rate for dur, in batches
// (sendmmsg), and returns how many were sent.
func send(rate int, dur time.Duration, size, port int) uint64 {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		fatalf("sender: %v", err)
	}
	defer conn.Close()
	conn.SetWriteBuffer(4 << 20)
	pc := ipv4.NewPacketConn(conn)
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	const batch = 64
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		b := make([]byte, size)
		b[0], b[1], b[2] = 23, 0xfe, 0xfd // DTLS 1.2 application data
		binary.BigEndian.PutUint16(b[3:], 1)
		binary.BigEndian.PutUint16(b[11:], uint16(size-13))
		for j := 13; j < size; j++ {
			b[j] = byte(j * 7)
		}
		msgs[i] = ipv4.Message{Buffers: [][]byte{b}, Addr: dst}
	}
	limit := min(uint64(float64(rate)*dur.Seconds()), maxPacketsPerStep)
	var sent, seq uint64
	start := time.Now()
	for sent < limit {
		el := time.Since(start)
		if el > dur+time.Second {
			break
		}
		due := min(uint64(float64(rate)*el.Seconds()), limit)
		if due <= sent {
			time.Sleep(50 * time.Microsecond)
			continue
		}
		k := int(min(due-sent, batch))
		for i := 0; i < k; i++ {
			seq++
			b := msgs[i].Buffers[0]
			b[5], b[6], b[7], b[8], b[9], b[10] = byte(seq>>40), byte(seq>>32), byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq)
		}
		n, err := pc.WriteBatch(msgs[:k], 0)
		if err != nil && n <= 0 {
			if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			fatalf("sending: %v", err)
		}
		sent += uint64(n)
	}
	return sent
}

// capturer runs the capture loop on its own OS thread.
type capturer struct {
	impl     string
	src      *live.Source
	eh       *pcapgo.EthernetHandle
	count    atomic.Uint64
	tid      atomic.Int64
	mu       sync.Mutex
	ehRecv   uint64
	ehDrop   uint64
	done     chan struct{}
	bufSize  int
	dissects bool
	jobs     int // >0: through Dissector.RunSource with this many workers
	closing  atomic.Bool
}

func newCapturer(impl string, bufSize int, doDissect bool, jobs int) (*capturer, error) {
	c := &capturer{impl: impl, done: make(chan struct{}), dissects: doDissect, jobs: jobs}
	filter := filter.Default(dissect.ControllerDTLSPorts(), []uint16{dissect.DefaultTLSPort})
	var next func(*capture.Packet) error
	switch impl {
	case "live":
		s, err := live.Open("lo", live.Options{Filter: filter, BufferSize: bufSize, Timeout: 200 * time.Millisecond})
		if err != nil {
			return nil, err
		}
		c.src = s
		c.bufSize = s.BufferSize()
		next = s.Next
	case "pcapgo":
		eh, err := pcapgo.NewEthernetHandle("lo")
		if err != nil {
			return nil, err
		}
		prog, err := filter.Compile(layers.LinkTypeEthernet)
		if err != nil {
			return nil, err
		}
		// pcapgo gives no access to the packet type: drop the sent copies
		// on lo in the filter, as Source does on old kernels.
		prefix, err := bpf.Assemble([]bpf.Instruction{
			bpf.LoadExtension{Num: bpf.ExtType},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipFalse: 1},
			bpf.RetConstant{Val: 0},
		})
		if err != nil {
			return nil, err
		}
		if err := eh.SetBPF(append(prefix, prog...)); err != nil {
			return nil, err
		}
		eh.SetCaptureLength(live.DefaultSnapLen)
		c.eh = eh
		next = func(p *capture.Packet) error {
			data, ci, err := eh.ZeroCopyReadPacketData()
			if err != nil {
				return err
			}
			p.Data, p.Time, p.LinkType, p.CapLen, p.OrigLen = data, ci.Timestamp, layers.LinkTypeEthernet, ci.CaptureLength, ci.Length
			p.Frame++
			return nil
		}
	default:
		return nil, fmt.Errorf("-impl must be live or pcapgo")
	}
	var d *dissect.Dissector
	if doDissect && jobs == 0 {
		d = dissect.New(dissect.Config{}, func(*dissect.Event) {})
	}
	ready := make(chan struct{})
	go func() {
		defer close(c.done)
		runtime.LockOSThread()
		c.tid.Store(int64(unix.Gettid()))
		close(ready)
		if jobs > 0 {
			d := dissect.New(dissect.Config{}, func(*dissect.Event) {})
			err := d.RunSource(c.src, dissect.RunOptions{Workers: jobs, OnPacket: func(*capture.Packet) { c.count.Add(1) }})
			if err != nil && !c.closing.Load() {
				fatalf("capture: %v", err)
			}
			return
		}
		var p capture.Packet
		for {
			err := next(&p)
			if errors.Is(err, live.ErrTimeout) {
				continue
			}
			if err != nil {
				return
			}
			if d != nil {
				d.Packet(&p)
			}
			c.count.Add(1)
		}
	}()
	<-ready
	return c, nil
}

// cpu is the CPU time of the capturing thread, or with jobs of the whole
// process.
func (c *capturer) cpu() time.Duration {
	if c.jobs == 0 {
		return threadCPU(c.tid.Load())
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (c *capturer) describe() string {
	if c.jobs > 0 {
		return fmt.Sprintf("dissect/live.Source on lo through Dissector.RunSource with %d workers, default filter (%d BPF instructions), socket buffer %d bytes", c.jobs, len(c.src.Program()), c.bufSize)
	}
	if c.src != nil {
		return fmt.Sprintf("dissect/live.Source on lo, default filter (%d BPF instructions), socket buffer %d bytes", len(c.src.Program()), c.bufSize)
	}
	return "gopacket pcapgo.EthernetHandle on lo, default filter, kernel default socket buffer"
}

func (c *capturer) stats() live.Stats {
	if c.src != nil {
		st, _ := c.src.Stats()
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, err := c.eh.Stats(); err == nil {
		c.ehRecv += uint64(st.Packets)
		c.ehDrop += uint64(st.Drops)
	}
	return live.Stats{Packets: c.count.Load(), KernelReceived: c.ehRecv, KernelDropped: c.ehDrop}
}

func (c *capturer) close() {
	c.closing.Store(true)
	if c.src != nil {
		c.src.Close()
	} else {
		c.eh.Close()
	}
	<-c.done
}

// threadCPU is the user+system CPU time of a thread of this process
// (from /proc; 10 ms resolution).
func threadCPU(tid int64) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loopbench: "+format+"\n", args...)
	os.Exit(1)
}
