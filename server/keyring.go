package server

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/accesstoken"
)

// Keyring holds the deployment's signing keys for access tokens: every published key (for the
// key set and verification) and a signer with the key that signs now. Keys are made and
// retired on a fixed schedule (latchkey.SigningKey): each node checks once a minute that a key
// signs now and, when the one that signs ends within PrePublish, makes the next, which starts
// signing PrePublish after it was made, so that verifiers that fetch the key set know it first.
// Two nodes may both make one; both are published and the later one signs.
type Keyring struct {
	ks       KeyStore
	secret   []byte
	log      *slog.Logger
	rotation time.Duration
	now      func() time.Time

	mu        sync.RWMutex
	keys      []*latchkey.SigningKey
	public    map[string]ed25519.PublicKey
	signer    *accesstoken.Signer
	signKey   *latchkey.SigningKey
	lastFetch time.Time
}

// KeyStore keeps signing keys: the admin layer (admin.Service), or a store in tests.
type KeyStore interface {
	CreateSigningKey(ctx context.Context, k *latchkey.SigningKey) error
	FindSigningKeys(ctx context.Context, now time.Time) ([]*latchkey.SigningKey, error)
	DeleteSigningKeys(ctx context.Context, now time.Time) (int64, error)
}

// Key schedule defaults.
const (
	// DefaultKeyRotation is how long a key signs.
	DefaultKeyRotation = 24 * time.Hour
	// PrePublish is how long a new key is published before it signs.
	PrePublish = time.Hour
	// keyRefetch is how often an unknown kid may make a node read the keys again.
	keyRefetch = time.Second
)

// NewKeyring returns a keyring whose private keys are sealed with secret (the deployment's
// secret key, the same on every node). rotation 0 means DefaultKeyRotation.
func NewKeyring(store KeyStore, secret []byte, log *slog.Logger, rotation time.Duration) *Keyring {
	if rotation <= 0 {
		rotation = DefaultKeyRotation
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Keyring{ks: store, secret: secret, log: log, rotation: rotation, now: time.Now, public: map[string]ed25519.PublicKey{}}
}

// Ensure reads the keys and makes the ones the schedule needs: a key that signs now (at once
// for a deployment's first key, or when every key ended while no node ran) and the next one
// PrePublish before the current one ends. It opens the signing key.
func (k *Keyring) Ensure(ctx context.Context) error {
	now := k.now()
	keys, err := k.ks.FindSigningKeys(ctx, now)
	if err != nil {
		return err
	}
	signing := signingKey(keys, now)
	if signing == nil {
		nk, err := accesstoken.NewKey(k.secret, now, now, k.rotation)
		if err != nil {
			return err
		}
		if err := k.ks.CreateSigningKey(ctx, nk); err != nil {
			return err
		}
		k.log.Info("signing key made; it signs at once (no key was signing)", "kid", nk.KID)
		keys, signing = append(keys, nk), nk
	}
	latest := keys[len(keys)-1]
	for _, x := range keys {
		if x.ActiveFrom.After(latest.ActiveFrom) {
			latest = x
		}
	}
	if latest == signing && signing.SignUntil.Sub(now) <= PrePublish+time.Minute {
		from := now.Add(PrePublish)
		if signing.SignUntil.After(from) {
			from = signing.SignUntil
		}
		nk, err := accesstoken.NewKey(k.secret, now, from, k.rotation)
		if err != nil {
			return err
		}
		if err := k.ks.CreateSigningKey(ctx, nk); err != nil {
			return err
		}
		k.log.Info("signing key made", "kid", nk.KID, "signs_from", from.UTC().Format(time.RFC3339))
		keys = append(keys, nk)
	}
	if err := k.install(keys, signing, now); err != nil {
		// The signing key cannot be opened: the secret key changed (or another node has
		// another one). Sign with the latest key this secret opens, or else make one that
		// signs at once; tokens signed by the others stop verifying when those keys go.
		for i := len(keys) - 1; i >= 0; i-- {
			x := keys[i]
			if x == signing || x.ActiveFrom.After(now) || x.PublishUntil.Before(now.Add(accesstoken.MaxLifetime)) {
				continue
			}
			if _, oerr := accesstoken.OpenKey(k.secret, x); oerr == nil {
				return k.install(keys, x, now)
			}
		}
		nk, nerr := accesstoken.NewKey(k.secret, now, now, k.rotation)
		if nerr != nil {
			return nerr
		}
		if nerr := k.ks.CreateSigningKey(ctx, nk); nerr != nil {
			return nerr
		}
		k.log.Warn("the signing key cannot be opened with this secret key (was it changed?); a new key signs at once", "kid", signing.KID, "new_kid", nk.KID)
		return k.install(append(keys, nk), nk, now)
	}
	return nil
}

// signingKey is the key that signs at now: the latest to have started, among those published
// long enough for the tokens it signs (MaxLifetime) to be verifiable until they expire.
func signingKey(keys []*latchkey.SigningKey, now time.Time) *latchkey.SigningKey {
	var best *latchkey.SigningKey
	for _, x := range keys {
		if x.ActiveFrom.After(now) || x.PublishUntil.Before(now.Add(accesstoken.MaxLifetime)) {
			continue
		}
		if best == nil || x.ActiveFrom.After(best.ActiveFrom) || x.ActiveFrom.Equal(best.ActiveFrom) && x.KID > best.KID {
			best = x
		}
	}
	return best
}

func (k *Keyring) install(keys []*latchkey.SigningKey, signing *latchkey.SigningKey, now time.Time) error {
	public := make(map[string]ed25519.PublicKey, len(keys))
	for _, x := range keys {
		if len(x.PublicKey) == ed25519.PublicKeySize {
			public[x.KID] = ed25519.PublicKey(x.PublicKey)
		}
	}
	k.mu.RLock()
	same := signing == nil || k.signKey != nil && k.signKey.KID == signing.KID
	k.mu.RUnlock()
	var signer *accesstoken.Signer
	if !same {
		priv, err := accesstoken.OpenKey(k.secret, signing)
		if err != nil {
			return err
		}
		if signer, err = accesstoken.NewSigner(signing.KID, priv); err != nil {
			return err
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ActiveFrom.Before(keys[j].ActiveFrom) })
	k.mu.Lock()
	k.keys, k.public, k.lastFetch = keys, public, now
	if signer != nil {
		k.signer, k.signKey = signer, signing
	}
	k.mu.Unlock()
	return nil
}

// Run keeps the keys on schedule (every minute) and deletes the ones no longer published
// (hourly), until ctx ends.
func (k *Keyring) Run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	var pruned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := k.Ensure(ctx); err != nil && ctx.Err() == nil {
			k.log.Error("signing keys", "error", err.Error())
		}
		if now := k.now(); now.Sub(pruned) >= time.Hour {
			if n, err := k.ks.DeleteSigningKeys(ctx, now); err == nil {
				pruned = now
				if n > 0 {
					k.log.Info("signing keys past their publication deleted", "count", n)
				}
			}
		}
	}
}

// Key returns the public key of kid (accesstoken.KeyFunc). An unknown kid makes it read the
// keys again (reading only), at most once a second, for a key another node has just made.
func (k *Keyring) Key(kid string) (any, bool) {
	k.mu.RLock()
	pub, ok := k.public[kid]
	stale := k.now().Sub(k.lastFetch) >= keyRefetch
	k.mu.RUnlock()
	if ok || !stale {
		return pub, ok
	}
	k.mu.Lock()
	k.lastFetch = k.now() // one refetch per second, even when it fails
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Only the published keys are read again; the signer is Ensure's to change.
	if keys, err := k.ks.FindSigningKeys(ctx, k.now()); err != nil || k.install(keys, nil, k.now()) != nil {
		return nil, false
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	pub, ok = k.public[kid]
	return pub, ok
}

// Published returns the keys in the key set, oldest first.
func (k *Keyring) Published() []*latchkey.SigningKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys
}

// Sign signs c with the key that signs now, capping its expiry at what the key's publication
// covers.
func (k *Keyring) Sign(c *accesstoken.Claims) (string, error) {
	k.mu.RLock()
	signer, key := k.signer, k.signKey
	k.mu.RUnlock()
	if signer == nil {
		return "", fmt.Errorf("no signing key: the keyring has not been loaded")
	}
	if limit := key.PublishUntil.Add(-accesstoken.Leeway); c.Expiry.Time().After(limit) {
		return "", fmt.Errorf("signing key %s is published until %s, before the token's expiry", key.KID, key.PublishUntil)
	}
	return signer.Sign(c)
}
