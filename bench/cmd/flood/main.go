// Command flood measures how a flood of made-up tokens affects honest clients: it measures the
// latency of one client with a valid token against /v1/forward-auth, first alone and then while
// other connections send random well-formed (checksum-valid, unknown) tokens as fast as they can,
// and prints both p99s and their ratio.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/tokenfmt"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8420", "latchkey URL")
	tokens := flag.String("tokens", "tokens.txt", "file of valid tokens (the first is used)")
	uri := flag.String("uri", "/api/projects/1/jobs/1", "X-Original-URI sent to forward-auth")
	dur := flag.Duration("duration", 10*time.Second, "length of each phase")
	flooders := flag.Int("flooders", 4, "connections sending made-up tokens")
	floodFrom := flag.String("flood-from", "127.0.0.2", "source address of the flood (the honest client uses 127.0.0.1)")
	flag.Parse()
	b, err := os.ReadFile(*tokens)
	if err != nil {
		log.Fatal(err)
	}
	valid := strings.Fields(string(b))[0]
	honest := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(*floodFrom)}}
	attacker := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *flooders, DialContext: dialer.DialContext}}
	ask := func(hc *http.Client, tok string) int {
		req, _ := http.NewRequest(http.MethodGet, *base+"/v1/forward-auth", nil)
		req.Header.Set("Authorization", "Token "+tok)
		req.Header.Set("X-Original-Method", "GET")
		req.Header.Set("X-Original-URI", *uri)
		resp, err := hc.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := ask(honest, valid); s != 200 {
		log.Fatalf("the valid token gets %d, want 200", s)
	}
	measure := func() (p50, p99 time.Duration, n int) {
		var lat []time.Duration
		end := time.Now().Add(*dur)
		for time.Now().Before(end) {
			start := time.Now()
			if s := ask(honest, valid); s != 200 {
				log.Fatalf("valid token got %d", s)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		return lat[len(lat)/2], lat[len(lat)*99/100], len(lat)
	}
	p50a, p99a, na := measure()
	fmt.Printf("alone:      p50 %s  p99 %s  (%d requests)\n", p50a, p99a, na)

	var stop atomic.Bool
	var sent, limited atomic.Int64
	var wg sync.WaitGroup
	for range *flooders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				fake, _, _ := tokenfmt.Default.Generate(latchkey.KindServiceToken)
				switch s := ask(attacker, fake); s {
				case 401:
				case 429:
					limited.Add(1)
				default:
					log.Fatalf("a made-up token got %d", s)
				}
				sent.Add(1)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	p50f, p99f, nf := measure()
	stop.Store(true)
	wg.Wait()
	fmt.Printf("flooded:    p50 %s  p99 %s  (%d requests; %d made-up tokens at %.0f/s, %d answered 429)\n", p50f, p99f, nf,
		sent.Load(), float64(sent.Load())/(dur.Seconds()+0.5), limited.Load())
	fmt.Printf("flooded/alone p99 ratio: %.2f\n", float64(p99f)/float64(p99a))
}
