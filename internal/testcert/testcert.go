// Package testcert makes certificates for tests at run time: a CA, a server
// certificate for localhost, 127.0.0.1 and ::1, and a client certificate.
// Nothing is bundled; every run makes new keys.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Pair is a PEM key and certificate, and the files holding them.
type Pair struct {
	Key, Cert         []byte
	KeyFile, CertFile string
}

// Set is one CA and the certificates it signed.
type Set struct {
	CA     []byte // PEM certificate of the CA
	CAFile string
	Server Pair // for localhost, 127.0.0.1 and ::1
	Client Pair // a client certificate (CN "client")
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	dir    string
}

// New makes a CA named name with a server and a client certificate, written
// to dir.
func New(dir, name string) (*Set, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(der)
	s := &Set{CA: pemBlock("CERTIFICATE", der), caCert: ca, caKey: key, dir: dir}
	s.CAFile = filepath.Join(dir, name+"-ca.pem")
	if err := os.WriteFile(s.CAFile, s.CA, 0o600); err != nil {
		return nil, err
	}
	if s.Server, err = s.Issue(name+"-server", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, x509.ExtKeyUsageServerAuth); err != nil {
		return nil, err
	}
	if s.Client, err = s.Issue(name+"-client", nil, nil, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	return s, nil
}

// Issue signs a certificate for the names and addresses given.
func (s *Set) Issue(cn string, dns []string, ips []net.IP, usage x509.ExtKeyUsage) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.caCert, &key.PublicKey, s.caKey)
	if err != nil {
		return Pair{}, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Pair{}, err
	}
	p := Pair{Key: pemBlock("EC PRIVATE KEY", kder), Cert: pemBlock("CERTIFICATE", der),
		KeyFile: filepath.Join(s.dir, cn+"-key.pem"), CertFile: filepath.Join(s.dir, cn+".pem")}
	if err := os.WriteFile(p.KeyFile, p.Key, 0o600); err != nil {
		return Pair{}, err
	}
	if err := os.WriteFile(p.CertFile, p.Cert, 0o600); err != nil {
		return Pair{}, err
	}
	return p, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
