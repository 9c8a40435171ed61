package fakegraph

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is SHA-1 by definition (RFC 7515)
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// clockSkew is the leeway on an assertion's exp and nbf.
const clockSkew = 5 * time.Minute

type assertionHeader struct {
	Alg     string   `json:"alg"`
	X5t     string   `json:"x5t"`
	X5tS256 string   `json:"x5t#S256"`
	X5c     []string `json:"x5c"`
}

type assertionClaims struct {
	Aud audience    `json:"aud"`
	Iss string      `json:"iss"`
	Sub string      `json:"sub"`
	Exp json.Number `json:"exp"`
	Nbf json.Number `json:"nbf"`
}

// audience is a JWT aud: one string or a list.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud is neither a string nor a list: %w", err)
	}
	*a = many
	return nil
}

// decodeB64 takes base64 in any of its spellings: JWT parts are base64url
// without padding, but MSAL writes x5t#S256 in standard base64.
func decodeB64(s string) ([]byte, error) {
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, fmt.Errorf("bad base64: %w", firstErr)
}

// verifyAssertion checks an RFC 7523 client assertion: signed (RS256, PS256 or
// ES256) by cert's key, naming cert by thumbprint (x5t or x5t#S256) or chain
// (x5c), issued by and for clientID, to one of audiences, and in its lifetime.
// Its errors describe what is wrong without quoting the assertion.
func verifyAssertion(jwt string, cert *x509.Certificate, clientID string, audiences []string, now time.Time) error {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return errors.New("the client assertion is not a JWS compact serialization")
	}
	var hdr assertionHeader
	if err := decodePart(parts[0], &hdr); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if err := checkThumbprint(hdr, cert); err != nil {
		return err
	}
	sig, err := decodeB64(parts[2])
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := verifySignature(hdr.Alg, cert.PublicKey, digest[:], sig); err != nil {
		return err
	}
	var cl assertionClaims
	if err := decodePart(parts[1], &cl); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	if !strings.EqualFold(cl.Iss, clientID) || !strings.EqualFold(cl.Sub, clientID) {
		return errors.New("the assertion's iss and sub must both be the client id")
	}
	audOK := false
	for _, a := range cl.Aud {
		for _, want := range audiences {
			audOK = audOK || strings.EqualFold(strings.TrimSuffix(a, "/"), want)
		}
	}
	if !audOK {
		return fmt.Errorf("the assertion's audience must be the token endpoint %s", audiences[0])
	}
	exp, err := cl.Exp.Int64()
	if err != nil {
		return errors.New("the assertion has no numeric exp")
	}
	if now.After(time.Unix(exp, 0).Add(clockSkew)) {
		return errors.New("the client assertion is not within its valid time range (expired)")
	}
	if cl.Nbf != "" {
		nbf, err := cl.Nbf.Int64()
		if err != nil || now.Add(clockSkew).Before(time.Unix(nbf, 0)) {
			return errors.New("the client assertion is not within its valid time range (not yet valid)")
		}
	}
	return nil
}

func decodePart(part string, v any) error {
	b, err := decodeB64(part)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return nil
}

func checkThumbprint(hdr assertionHeader, cert *x509.Certificate) error {
	switch {
	case hdr.X5tS256 != "":
		got, err := decodeB64(hdr.X5tS256)
		want := sha256.Sum256(cert.Raw)
		if err != nil || !bytes.Equal(got, want[:]) {
			return errors.New("the certificate with identifier (x5t#S256) used to sign the client assertion is not registered on application")
		}
	case hdr.X5t != "":
		got, err := decodeB64(hdr.X5t)
		want := sha1.Sum(cert.Raw) //nolint:gosec // x5t is SHA-1 by definition
		if err != nil || !bytes.Equal(got, want[:]) {
			return errors.New("the certificate with identifier (x5t) used to sign the client assertion is not registered on application")
		}
	case len(hdr.X5c) > 0:
		der, err := base64.StdEncoding.DecodeString(hdr.X5c[0])
		if err != nil || !bytes.Equal(der, cert.Raw) {
			return errors.New("the certificate (x5c) used to sign the client assertion is not registered on application")
		}
	default:
		return errors.New("the client assertion's header names no certificate (x5t, x5t#S256 or x5c)")
	}
	return nil
}

func verifySignature(alg string, pub any, digest, sig []byte) error {
	bad := errors.New("the client assertion failed signature validation")
	switch key := pub.(type) {
	case *rsa.PublicKey:
		var err error
		switch alg {
		case "RS256":
			err = rsa.VerifyPKCS1v15(key, crypto.SHA256, digest, sig)
		case "PS256":
			err = rsa.VerifyPSS(key, crypto.SHA256, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		default:
			return fmt.Errorf("the client assertion's alg %q is not supported for an RSA key: use RS256 or PS256", alg)
		}
		if err != nil {
			return bad
		}
	case *ecdsa.PublicKey:
		if alg != "ES256" {
			return fmt.Errorf("the client assertion's alg %q is not supported for an EC key: use ES256", alg)
		}
		if len(sig) != 64 {
			return bad
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(key, digest, r, s) {
			return bad
		}
	default:
		return fmt.Errorf("the registered certificate's key type %T is not supported", pub)
	}
	return nil
}
