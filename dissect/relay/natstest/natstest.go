// Package natstest runs real nats-server processes (Debian's package,
// 2.9.10 in CI) for the scale-out tests: one JetStream server, or a
// three-node JetStream cluster, on loopback, with their stores in the
// test's temporary directory. The tests skip when nats-server is not
// installed; .ci/run installs it. An in-process server would not do: the
// fault tests kill and restart the server.
package natstest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is one nats-server process.
type Server struct {
	t    *testing.T
	bin  string
	Name string
	Port int
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// Binary returns nats-server's path, or skips the test.
func Binary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Skip("nats-server is not installed (apt-get install nats-server): the scale-out tests need a real server")
	}
	return bin
}

// FreePorts returns n distinct free loopback TCP ports (held open together
// while they are chosen, so that none is handed out twice).
func FreePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// Start starts one JetStream server; it is killed when the test ends.
func Start(t *testing.T) *Server {
	s := &Server{t: t, bin: Binary(t), Name: "n1", Port: FreePorts(t, 1)[0]}
	s.args = []string{"-js", "-sd", t.TempDir(), "-a", "127.0.0.1", "-p", fmt.Sprint(s.Port), "-n", s.Name}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// StartPlain starts one server without JetStream (a core NATS server,
// which a sensor may be pointed at by mistake); it is killed when the
// test ends.
func StartPlain(t *testing.T) *Server {
	s := &Server{t: t, bin: Binary(t), Name: "plain", Port: FreePorts(t, 1)[0]}
	s.args = []string{"-a", "127.0.0.1", "-p", fmt.Sprint(s.Port), "-n", s.Name}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// Cluster starts three JetStream servers routed to each other.
func Cluster(t *testing.T) []*Server {
	bin := Binary(t)
	ports := FreePorts(t, 6)
	cports := ports[3:]
	var routes []string
	for _, p := range cports {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var out []*Server
	for i := range 3 {
		s := &Server{t: t, bin: bin, Name: fmt.Sprintf("n%d", i+1), Port: ports[i]}
		s.args = []string{"-js", "-sd", filepath.Join(t.TempDir(), s.Name), "-a", "127.0.0.1", "-p", fmt.Sprint(s.Port),
			"-n", s.Name, "--cluster_name", "ompscope", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", cports[i]),
			"--routes", strings.Join(routes, ",")}
		s.start()
		t.Cleanup(s.Kill)
		out = append(out, s)
	}
	for _, s := range out {
		s.waitReady(20 * time.Second)
	}
	// JetStream needs a meta leader before streams can be made, and the
	// leader needs to know its peers before it places three replicas: a
	// stream of three replicas, made and deleted, says both are there
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if last = placeThree(out[0].URL()); last == nil {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the cluster cannot place a stream of three replicas (%v):\n%s", last, out[0].Log())
	return nil
}

// placeThree makes a stream of three replicas and deletes it.
func placeThree(url string) error {
	nc, err := nats.Connect(url, nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "NATSTEST_PROBE", Subjects: []string{"natstest.probe"},
		Replicas: 3, Storage: jetstream.MemoryStorage}); err != nil {
		return err
	}
	return js.DeleteStream(ctx, "NATSTEST_PROBE")
}

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.Port) }

// URLs joins the servers' URLs (a client connects to any).
func URLs(ss []*Server) string {
	var u []string
	for _, s := range ss {
		u = append(u, s.URL())
	}
	return strings.Join(u, ",")
}

func (s *Server) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = &bytes.Buffer{}
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = &LockedWriter{Mu: &s.mu, W: s.log}, &LockedWriter{Mu: &s.mu, W: s.log}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Server) waitReady(d time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		nc, err := nats.Connect(s.URL(), nats.Timeout(time.Second))
		if err == nil {
			nc.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("nats-server %s did not start:\n%s", s.Name, s.Log())
}

// Restart starts the server again (on the same port and store).
func (s *Server) Restart() {
	s.t.Helper()
	s.start()
	s.waitReady(10 * time.Second)
}

// Kill stops the server at once (SIGKILL: no clean shutdown).
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
}

// Log is what the server printed.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// LockedWriter writes to a buffer under a mutex (a process's output read
// while it runs).
type LockedWriter struct {
	Mu *sync.Mutex
	W  *bytes.Buffer
}

func (l *LockedWriter) Write(p []byte) (int, error) {
	l.Mu.Lock()
	defer l.Mu.Unlock()
	return l.W.Write(p)
}
