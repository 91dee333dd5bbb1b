package webhook

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// examplesDir holds the receivers docs/webhooks-verify shows users, relative to this package.
const examplesDir = "../docs/webhooks-verify"

// TestVerifyExamples runs the documented receivers against real signed deliveries, so the
// docs cannot drift from what Sign sends. Go always runs; Python and Node are skipped, with the
// reason, where they are not installed (CI machines may lack them), but fail if they are there
// and reject a good delivery.
func TestVerifyExamples(t *testing.T) {
	t.Run("go", func(t *testing.T) {
		goTool, err := exec.LookPath("go")
		if err != nil {
			t.Fatalf("the go command is needed to build %s/verify.go: %v", examplesDir, err)
		}
		// Built, then run, rather than "go run": killing "go run" would leave the program
		// it started listening.
		bin := filepath.Join(t.TempDir(), "verify")
		build := exec.Command(goTool, "build", "-o", bin, filepath.Join(examplesDir, "verify.go"))
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s/verify.go: %v\n%s", examplesDir, err, out)
		}
		runReceiverExample(t, bin)
	})
	t.Run("python", func(t *testing.T) {
		python, err := exec.LookPath("python3")
		if err != nil {
			t.Skipf("python3 is not installed, so %s/verify.py is not checked: %v", examplesDir, err)
		}
		runReceiverExample(t, python, filepath.Join(examplesDir, "verify.py"))
	})
	t.Run("node", func(t *testing.T) {
		node, err := exec.LookPath("node")
		if err != nil {
			t.Skipf("node is not installed, so %s/verify.js is not checked: %v", examplesDir, err)
		}
		runReceiverExample(t, node, filepath.Join(examplesDir, "verify.js"))
	})
}

// runReceiverExample starts one example receiver and sends it deliveries it must accept and
// ones it must reject.
func runReceiverExample(t *testing.T, argv ...string) {
	t.Helper()
	secret := NewSecret()
	port := freePort(t)
	cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret, "PORT="+port)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	exited := make(chan struct{})
	lines := make(chan string, 16)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	waitListening(t, "127.0.0.1:"+port, exited, &stderr)

	c := NewClient(Options{AllowHTTPLoopback: true})
	url := "http://127.0.0.1:" + port + "/webhooks"
	body := []byte(`{"type":"token.created","timestamp":"2026-12-02T17:41:54Z","data":{"account_id":1,"token_id":42}}`)
	other := NewSecret()
	tests := []struct {
		name    string
		at      time.Time
		secrets []string
		status  int
		line    string // what the receiver prints (a prefix, for rejections)
	}{
		{"signed", time.Now(), []string{secret}, 204, "verified token.created"},
		{"rotation, second signature", time.Now(), []string{other, secret}, 204, "verified token.created"},
		{"wrong secret", time.Now(), []string{other}, 400, "rejected "},
		{"replayed after 10 min", time.Now().Add(-10 * time.Minute), []string{secret}, 400, "rejected "},
	}
	for i, tt := range tests {
		h, err := Sign("msg_example_"+strconv.Itoa(i), tt.at, body, tt.secrets...)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		a := c.Send(context.Background(), url, h, body)
		if a.Status != tt.status {
			t.Errorf("%s: Send(%s) = status %d (%s), want %d; stderr:\n%s", argv, tt.name, a.Status, a.Error, tt.status, stderr.String())
		}
		select {
		case line := <-lines:
			if !strings.HasPrefix(line, tt.line) || (tt.status == 204 && line != tt.line) {
				t.Errorf("%s: after Send(%s) the receiver printed %q, want %q", argv, tt.name, line, tt.line)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: after Send(%s) the receiver printed nothing, want %q; stderr:\n%s", argv, tt.name, tt.line, stderr.String())
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// waitListening polls addr until something accepts connections there, failing if the
// program exits first or a generous deadline passes (an interpreter can start slowly on a
// busy CI machine).
func waitListening(t *testing.T, addr string, exited <-chan struct{}, stderr *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("the receiver exited before listening on %s; stderr:\n%s", addr, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver is not listening on %s after 60 s; stderr:\n%s", addr, stderr.String())
		}
	}
}
