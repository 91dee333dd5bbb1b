// Command flood measures how a flood of made-up tokens affects honest clients of
// /v1/forward-auth. Run as -mode measure it reports the latency of one client with a valid token
// (from 127.0.0.1) and how many of its requests were refused (429 or anything else but 200); run
// as -mode flood it sends random well-formed (checksum-valid, unknown) tokens from -from
// (127.0.0.2, or the honest client's own 127.0.0.1) as fast as its connections allow.
// bench/flood.sh runs a measure alone, then again with a flood process beside it (at a lower CPU
// priority, so that on a small machine the attacker's own client does not starve the measuring
// one), and prints the p99 ratio.
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
	mode := flag.String("mode", "measure", "measure or flood")
	base := flag.String("url", "http://127.0.0.1:8420", "latchkey URL")
	tokens := flag.String("tokens", "tokens.txt", "file of valid tokens (measure uses the first)")
	uri := flag.String("uri", "/api/projects/1/jobs/1", "X-Original-URI sent to forward-auth")
	dur := flag.Duration("duration", 10*time.Second, "how long to run")
	conns := flag.Int("conns", 4, "flood connections")
	from := flag.String("from", "127.0.0.2", "flood source address")
	flag.Parse()

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

	switch *mode {
	case "measure":
		b, err := os.ReadFile(*tokens)
		if err != nil {
			log.Fatal(err)
		}
		valid := strings.Fields(string(b))[0]
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		if s := ask(hc, valid); s != 200 {
			log.Fatalf("the valid token gets %d, want 200", s)
		}
		var lat []time.Duration
		var limited, other int
		end := time.Now().Add(*dur)
		for time.Now().Before(end) {
			start := time.Now()
			switch s := ask(hc, valid); s {
			case 200:
			case 429:
				limited++
			default:
				other++
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		// Refusals are counted in the latencies too: a 429 held by the tarpit is slow.
		fmt.Printf("p50 %d ns, p99 %d ns, %d requests, %d answered 429, %d answered neither 200 nor 429\n",
			lat[len(lat)/2].Nanoseconds(), lat[len(lat)*99/100].Nanoseconds(), len(lat), limited, other)
	case "flood":
		// Made-up tokens are prepared up front so the flood is limited by the server, not by
		// generating tokens.
		fakes := make([]string, 100_000)
		for i := range fakes {
			fakes[i], _, _ = tokenfmt.Default.Generate(latchkey.KindServiceToken)
		}
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(*from)}}
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conns, DialContext: dialer.DialContext}}
		var sent, limited atomic.Int64
		var wg sync.WaitGroup
		end := time.Now().Add(*dur)
		for c := range *conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := c; time.Now().Before(end); i += *conns {
					switch s := ask(hc, fakes[i%len(fakes)]); s {
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
		wg.Wait()
		fmt.Printf("flood: %d made-up tokens (%.0f/s), %d answered 429\n", sent.Load(), float64(sent.Load())/dur.Seconds(), limited.Load())
	default:
		log.Fatalf("unknown -mode %q", *mode)
	}
}
