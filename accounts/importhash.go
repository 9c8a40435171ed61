package accounts

import (
	"context"

	"github.com/dirsync/dirsync/accounts/password"
)

// HashTemporaryPassword checks pw against the password rules for address and
// hashes it (under the Service's limiter), for a caller that writes it in a
// transaction of its own (the CSV import's store.Import).
func (s *Service) HashTemporaryPassword(ctx context.Context, address, pw string) (string, error) {
	if err := password.Check(pw, address); err != nil {
		return "", err
	}
	return s.lim.Wait(ctx, func() (string, error) { return password.Hash(pw, s.params) })
}
