package vdaemon

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"unicode/utf8"
)

// AuthorizedKeysLen is the size of the authorized-keys buffer that opens a
// VMANAGE_TO_PEER body: NUL-terminated OpenSSH authorized_keys text that
// the receiving controller appends to vmanage-admin's authorized_keys. The
// layout (768-byte buffer, then a TLV count) is the one both public exploit
// modules send (rapid7/metasploit-framework,
// modules/auxiliary/admin/networking/cisco_sdwan_auth_bypass.rb and
// cisco_sdwan_vhub_auth_bypass.rb, build_ssh_inject_body); the decompiled
// handler (javierDAW/detection-diary, 2026-05-16 vHub note,
// vbond_proc_vmanage_to_peer) fputs the text into
// /home/vmanage-admin/.ssh/authorized_keys.
const AuthorizedKeysLen = 768

// VManageToPeer is the body of VMANAGE_TO_PEER (type 14): a vManage sends
// its SSH public keys to a controller so that it can log in over NETCONF.
// Buffer holds the authorized-keys buffer as sent (AuthorizedKeysLen
// bytes; fewer when the body is shorter, then Short is set and nothing
// follows); TLVs and Extra follow it.
type VManageToPeer struct {
	Buffer []byte
	Short  bool
	TLVs   []TLV
	Extra  []byte
	// BadTLVs: what follows the buffer is not a TLV list; it is all in
	// Extra. The message still decodes: a controller reads only the
	// buffer, so malformed TLVs must not hide an injected key.
	BadTLVs bool
}

func (v *VManageToPeer) decode(data []byte) error {
	if len(data) <= AuthorizedKeysLen {
		// shorter than the buffer and its TLV count: keep it all
		v.Buffer, v.Short = copyOrNil(data), len(data) < AuthorizedKeysLen
		if len(data) == AuthorizedKeysLen {
			v.Short = true // no TLV count: flagged, kept
		}
		return nil
	}
	v.Buffer = append([]byte(nil), data[:AuthorizedKeysLen]...)
	tlvs, rest, err := decodeTLVs("vdaemon vmanage-to-peer", data[AuthorizedKeysLen:], HeaderLen+AuthorizedKeysLen)
	if err != nil {
		v.BadTLVs, v.Extra = true, copyOrNil(data[AuthorizedKeysLen:])
		return nil
	}
	v.TLVs, v.Extra = tlvs, copyOrNil(rest)
	return nil
}

// AppendTo implements Body.
func (v *VManageToPeer) AppendTo(b []byte) ([]byte, error) {
	if v.Short {
		return append(b, v.Buffer...), nil
	}
	if len(v.Buffer) > AuthorizedKeysLen {
		return b, &EncodeError{"vdaemon vmanage-to-peer", "authorized-keys buffer", "longer than 768 bytes"}
	}
	b = append(b, v.Buffer...)
	b = append(b, make([]byte, AuthorizedKeysLen-len(v.Buffer))...)
	if v.BadTLVs {
		return append(b, v.Extra...), nil
	}
	b, err := appendTLVs(b, "vdaemon vmanage-to-peer", v.TLVs)
	return append(b, v.Extra...), err
}

// Text returns the buffer's text: its bytes up to the first NUL.
func (v *VManageToPeer) Text() []byte {
	if i := bytes.IndexByte(v.Buffer, 0); i >= 0 {
		return v.Buffer[:i]
	}
	return v.Buffer
}

// SSHKey describes one public key found in an authorized-keys buffer,
// without the key itself: its algorithm, its OpenSSH fingerprint and its
// comment.
type SSHKey struct {
	// Offset of the key's algorithm name in the buffer.
	Offset int
	// Type is the algorithm name ("ssh-rsa", "ssh-ed25519", ...).
	Type string
	// Fingerprint is OpenSSH's "SHA256:<base64>" of the key blob; when the
	// key text is not valid base64 it is that of the text, and
	// BadBase64 is set.
	Fingerprint string
	BadBase64   bool
	// BlobType is the algorithm name inside the decoded blob ("" if it
	// cannot be read); a blob that disagrees with Type is suspicious.
	BlobType string
	// Comment is the text after the key on its line (often user@host);
	// at most 128 bytes are kept.
	Comment string
}

// sshKeyTypes are the OpenSSH public key algorithm names looked for.
var sshKeyTypes = []string{
	"ssh-rsa", "ssh-dss", "ssh-ed25519", "ssh-ed448",
	"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
	"rsa-sha2-256", "rsa-sha2-512",
}

const (
	maxSSHKeys       = 16
	maxCommentLength = 128
)

// Keys finds the SSH public keys in the buffer's text (wherever they
// start on a line: a key may follow options or padding), at most 16.
func (v *VManageToPeer) Keys() []SSHKey { return FindSSHKeys(v.Text()) }

// FindSSHKeys finds OpenSSH public keys in authorized_keys text.
func FindSSHKeys(text []byte) []SSHKey {
	var out []SSHKey
	for off := 0; off < len(text) && len(out) < maxSSHKeys; {
		i, typ := nextKeyType(text[off:])
		if i < 0 {
			break
		}
		p := off + i + len(typ) + 1 // after "type "
		end := p
		for end < len(text) && !isSpaceNL(text[end]) {
			end++
		}
		k := SSHKey{Offset: off + i, Type: typ}
		tok := text[p:end]
		blob, err := base64.StdEncoding.DecodeString(string(tok))
		if err != nil {
			blob, err = base64.RawStdEncoding.DecodeString(string(tok))
		}
		if err != nil || len(blob) == 0 {
			k.BadBase64 = true
			blob = tok
		} else if len(blob) >= 4 {
			if n := binary.BigEndian.Uint32(blob); int(n) <= len(blob)-4 && n <= 64 {
				k.BlobType = string(blob[4 : 4+n])
			}
		}
		sum := sha256.Sum256(blob)
		k.Fingerprint = "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
		// comment: the rest of the line
		c := end
		for c < len(text) && text[c] == ' ' || c < len(text) && text[c] == '\t' {
			c++
		}
		ce := c
		for ce < len(text) && text[ce] != '\n' && text[ce] != '\r' {
			ce++
		}
		if ce-c > maxCommentLength {
			cut := c + maxCommentLength
			for cut > c && !utf8.RuneStart(text[cut]) {
				cut-- // never split a character
			}
			k.Comment = string(text[c:cut]) + "…"
		} else {
			k.Comment = string(text[c:ce])
		}
		out = append(out, k)
		off = max(ce, end)
	}
	return out
}

// nextKeyType returns the index of the first key algorithm name followed
// by a space that starts a word in b, and the name.
func nextKeyType(b []byte) (int, string) {
	best, name := -1, ""
	for _, t := range sshKeyTypes {
		for from := 0; from < len(b); {
			i := bytes.Index(b[from:], []byte(t+" "))
			if i < 0 {
				break
			}
			i += from
			if i == 0 || isSpaceNL(b[i-1]) || b[i-1] == ',' || b[i-1] == '"' {
				if best < 0 || i < best || (i == best && len(t) > len(name)) {
					best, name = i, t
				}
				break
			}
			from = i + 1
		}
	}
	return best, name
}

func isSpaceNL(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0 }

// Describe is `ssh-rsa SHA256:… "comment"`: the key's algorithm,
// fingerprint and comment, never the key.
func (k *SSHKey) Describe() string {
	s := k.Type + " " + k.Fingerprint
	if k.BadBase64 {
		s += " (not valid base64)"
	}
	if k.BlobType != "" && k.BlobType != k.Type {
		s += " (blob says " + strconv.Quote(k.BlobType) + ")"
	}
	if k.Comment != "" {
		s += " " + strconv.Quote(k.Comment)
	} else {
		s += " (no comment)"
	}
	return s
}
