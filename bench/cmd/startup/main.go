// Command startup measures how long `latchkey serve` takes, from exec until /readyz answers 200,
// on an existing database. It repeats the measurement and prints every run and the median.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"time"
)

func main() {
	bin := flag.String("bin", "./latchkey", "latchkey binary")
	db := flag.String("db", "bench.db", "database")
	runs := flag.Int("runs", 5, "repetitions")
	flag.Parse()
	re := regexp.MustCompile(`serving on (http://\S+)`)
	var took []time.Duration
	for range *runs {
		start := time.Now()
		cmd := exec.Command(*bin, "serve", "--db", *db, "--addr", "127.0.0.1:0", "--log-level", "warn")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			log.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		var base string
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				base = m[1]
				break
			}
		}
		for {
			resp, err := http.Get(base + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			time.Sleep(time.Millisecond)
		}
		d := time.Since(start)
		took = append(took, d)
		fmt.Printf("ready in %s\n", d.Round(time.Millisecond))
		_ = cmd.Process.Signal(interrupt)
		_ = cmd.Wait()
	}
	slices.Sort(took)
	fmt.Printf("median time to ready: %s\n", took[len(took)/2].Round(time.Millisecond))
}
