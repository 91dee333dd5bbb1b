package sqlstore

import (
	"context"
	"time"

	"github.com/latchkey/latchkey"
)

// CreateSigningKey stores a signing key. Keys are not objects of an account: no audit entry
// (the server logs each new key), no change.
func (s *Store) CreateSigningKey(ctx context.Context, k *latchkey.SigningKey) error {
	_, err := s.exec(ctx, `INSERT INTO signing_keys (kid, algorithm, public_key, private_sealed, created_at, active_from, sign_until, publish_until)
		VALUES (?,?,?,?,?,?,?,?)`, k.KID, k.Algorithm, k.PublicKey, k.PrivateSealed,
		micros(k.CreatedAt), micros(k.ActiveFrom), micros(k.SignUntil), micros(k.PublishUntil))
	return s.wrap(err, "create signing key") // a kid taken: EConflict
}

// FindSigningKeys returns the keys published at now.
func (s *Store) FindSigningKeys(ctx context.Context, now time.Time) ([]*latchkey.SigningKey, error) {
	rows, err := s.query(ctx, `SELECT kid, algorithm, public_key, private_sealed, created_at, active_from, sign_until, publish_until
		FROM signing_keys WHERE publish_until > ? ORDER BY active_from, kid`, micros(now))
	if err != nil {
		return nil, s.wrap(err, "find signing keys")
	}
	defer rows.Close()
	var out []*latchkey.SigningKey
	for rows.Next() {
		k := &latchkey.SigningKey{}
		var created, active, signUntil, publishUntil int64
		if err := rows.Scan(&k.KID, &k.Algorithm, &k.PublicKey, &k.PrivateSealed, &created, &active, &signUntil, &publishUntil); err != nil {
			return nil, s.wrap(err, "find signing keys")
		}
		k.CreatedAt, k.ActiveFrom, k.SignUntil, k.PublishUntil = fromMicros(created), fromMicros(active), fromMicros(signUntil), fromMicros(publishUntil)
		out = append(out, k)
	}
	return out, s.wrap(rows.Err(), "find signing keys")
}

// DeleteSigningKeys deletes the keys no longer published at now.
func (s *Store) DeleteSigningKeys(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM signing_keys WHERE publish_until <= ?`, micros(now))
	if err != nil {
		return 0, s.wrap(err, "delete signing keys")
	}
	n, _ := res.RowsAffected()
	return n, nil
}
