//go:build ignore

// Command verify receives latchkey webhooks and checks their Standard Webhooks signatures,
// using only Go's standard library.
//
//	WEBHOOK_SECRET=whsec_... PORT=8080 go run verify.go
//
// A real receiver would also remember each webhook-id it has processed and skip repeats:
// latchkey retries until it sees a 2xx, so a delivery can arrive more than once.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

const tolerance = 5 * time.Minute

func main() {
	secret := os.Getenv("WEBHOOK_SECRET")
	enc, ok := strings.CutPrefix(secret, "whsec_")
	key, err := base64.StdEncoding.DecodeString(enc)
	if !ok || err != nil {
		log.Fatal("WEBHOOK_SECRET must be whsec_ followed by base64")
	}
	http.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			reject(w, "cannot read the body")
			return
		}
		if err := verify(key, r.Header, body, time.Now()); err != nil {
			reject(w, err.Error())
			return
		}
		var event struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			reject(w, "the body is not JSON")
			return
		}
		fmt.Printf("verified %s\n", event.Type)
		w.WriteHeader(http.StatusNoContent)
	})
	log.Fatal(http.ListenAndServe(net.JoinHostPort("127.0.0.1", os.Getenv("PORT")), nil))
}

func reject(w http.ResponseWriter, reason string) {
	fmt.Printf("rejected %s\n", reason)
	w.WriteHeader(http.StatusBadRequest)
}

// verify checks webhook-signature (any of its space-separated v1 signatures) over
// webhook-id.webhook-timestamp.body, and that the timestamp is within 5 minutes of now.
func verify(key []byte, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || strings.TrimLeft(ts, "0123456789") != "" {
		return errors.New("webhook-timestamp is not a Unix time")
	}
	if d := now.Unix() - sec; d > int64(tolerance.Seconds()) || d < -int64(tolerance.Seconds()) {
		return errors.New("webhook-timestamp is more than 5 minutes away")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	for _, sig := range strings.Split(sigs, " ") {
		version, got, _ := strings.Cut(sig, ",")
		if version == "v1" && hmac.Equal([]byte(got), want) { // constant time
			return nil
		}
	}
	return errors.New("no matching v1 signature")
}
