package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/latchkey/latchkey/webhook"
)

func ExampleSign() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	h, err := webhook.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`), secret)
	if err != nil {
		panic(err)
	}
	fmt.Println(h.Get("webhook-timestamp"))
	fmt.Println(h.Get("webhook-signature"))
	// Output:
	// 1614265330
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}

// A Go receiver checks each delivery with Verify before acting on it.
func ExampleVerify() {
	secret := webhook.NewSecret() // the receiver is given the subscription's secret
	receive := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := webhook.Verify(secret, r.Header, body, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		// Act on the event once per webhook-id: deliveries are retried until a 2xx.
		w.WriteHeader(http.StatusNoContent)
	})

	body := `{"type":"token.created"}`
	for _, signedWith := range []string{secret, webhook.NewSecret()} {
		h, _ := webhook.Sign("msg_1", time.Now(), []byte(body), signedWith)
		r := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(body))
		r.Header = h
		w := httptest.NewRecorder()
		receive.ServeHTTP(w, r)
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%d %s", w.Code, w.Body.String())))
	}
	// Output:
	// 204
	// 400 no v1 signature in webhook-signature matches
}
