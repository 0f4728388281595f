// Package wire is the binary encoding of the messages fresh sends over a Bus.
//
// A message is laid out as:
//
//	magic      1 byte, 0xF5
//	version    1 byte, Version
//	kind       1 byte, a Kind
//	origin     16 bytes
//	epoch      uvarint
//	seq        uvarint
//	stamp      varint (zig-zag, as encoding/binary.AppendVarint)
//	namespace  uvarint length, then that many bytes
//	item count uvarint
//	items      each a uvarint length, then that many bytes
//
// The encoding is canonical: varints are minimal, nothing follows the last item, and
// Decode accepts exactly the byte strings that Append produces, so a decoded message
// re-encodes to the bytes it came from.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// A Kind says what a Message asks its receivers to do.
type Kind uint8

// The kinds of message.
const (
	// KindInvalidate carries canonical dependency strings as Items; it applies to
	// every cache on the bus, whatever its Namespace.
	KindInvalidate Kind = 1
	// KindDelete carries encoded keys as Items; it applies to the caches whose name
	// is the message's Namespace.
	KindDelete Kind = 2
	// KindFlush has no Items; it applies to the caches whose name is the message's
	// Namespace.
	KindFlush Kind = 3
	// KindHeartbeat has no Items and consumes no sequence number: its Seq is the last
	// sequence number its sender has handed to the transport, so that a receiver
	// detects a lost tail of invalidations, and a lost heartbeat is no gap. Its Stamp
	// is the sender's monotonic send time in
	// nanoseconds.
	KindHeartbeat Kind = 4
	// KindPattern carries glob patterns of encoded keys as Items; it applies to the
	// caches whose name is the message's Namespace.
	KindPattern Kind = 5
	// KindRows carries row changes (one canonical encoding each) as Items; every
	// receiver computes what they dirty with its own table schemes.
	KindRows Kind = 6
	// KindStoreMissed has no Items: its sender applied an invalidation that did not
	// reach the shared Store. Receivers stop reading the store until it has been
	// flushed. It is sent before the invalidation's own message.
	KindStoreMissed Kind = 7
)

// String returns the kind's name, or kind(N) for an unknown kind.
func (k Kind) String() string {
	switch k {
	case KindInvalidate:
		return "invalidate"
	case KindDelete:
		return "delete"
	case KindFlush:
		return "flush"
	case KindHeartbeat:
		return "heartbeat"
	case KindPattern:
		return "pattern"
	case KindRows:
		return "rows"
	case KindStoreMissed:
		return "store-missed"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// valid reports whether k is one of the defined kinds.
func (k Kind) valid() bool { return k >= KindInvalidate && k <= KindStoreMissed }

// carriesItems reports whether messages of kind k may have Items.
func (k Kind) carriesItems() bool {
	return k == KindInvalidate || k == KindDelete || k == KindPattern || k == KindRows
}

// A Message is one bus message, decoded.
type Message struct {
	Kind Kind
	// Origin is the random id of the publishing cache instance.
	Origin [16]byte
	// Epoch is the publisher's epoch; a change tells receivers that the publisher
	// lost messages.
	Epoch uint64
	// Seq is the per-origin sequence number: it starts at 1 and grows by one per
	// message.
	Seq uint64
	// Namespace is the cache name that Delete and Flush messages apply to. It may be
	// empty.
	Namespace string
	// Stamp is the sender's monotonic send time in nanoseconds for a heartbeat; other
	// kinds may leave it zero.
	Stamp int64
	// Items are dependency strings (KindInvalidate) or encoded keys (KindDelete).
	Items []string
}

// Version is the version of the encoding that this package writes and reads.
const Version = 2

// Limits of the encoding. Append refuses a message beyond them and Decode rejects one,
// so that a receiver never allocates more than about the size of its input.
const (
	// MaxMessageSize is the largest encoded message, in bytes. A publisher with more
	// to say sends several messages.
	MaxMessageSize = 1 << 20
	// MaxItems is the largest number of Items in one message.
	MaxItems = 1 << 16
	// MaxItemLen is the longest Item, and the longest Namespace, in bytes.
	MaxItemLen = 64 << 10
)

// magic is the first byte of every message; it tells a fresh message from other traffic.
const magic = 0xF5

// headerLen is the size of the fixed part: magic, version, kind and origin.
const headerLen = 3 + 16

// Errors returned by Append and Decode, usually wrapped with details.
var (
	// ErrVersion reports a message written in a version of the encoding that this
	// package cannot read. Receivers treat it as a gap.
	ErrVersion = errors.New("fresh/wire: unsupported version")
	// ErrMalformed reports input that is not a message: truncated, corrupt, or with
	// trailing bytes.
	ErrMalformed = errors.New("fresh/wire: malformed message")
	// ErrKind reports a message of an unknown kind, or Items on a kind without them.
	ErrKind = errors.New("fresh/wire: bad kind")
	// ErrTooLarge reports a message beyond MaxMessageSize, MaxItems or MaxItemLen.
	// A publisher splits such a message in several.
	ErrTooLarge = errors.New("fresh/wire: message too large")
)

// Append appends the encoding of m to dst and returns the extended slice. On error it
// returns dst unchanged.
func Append(dst []byte, m *Message) ([]byte, error) {
	if m == nil {
		return dst, fmt.Errorf("%w: nil message", ErrKind)
	}
	if !m.Kind.valid() {
		return dst, fmt.Errorf("%w: unknown %v", ErrKind, m.Kind)
	}
	if len(m.Items) > 0 && !m.Kind.carriesItems() {
		return dst, fmt.Errorf("%w: %v message with items", ErrKind, m.Kind)
	}
	if len(m.Items) > MaxItems {
		return dst, fmt.Errorf("%w: %d items, limit %d", ErrTooLarge, len(m.Items), MaxItems)
	}
	if len(m.Namespace) > MaxItemLen {
		return dst, fmt.Errorf("%w: namespace of %d bytes, limit %d", ErrTooLarge, len(m.Namespace), MaxItemLen)
	}
	size := headerLen +
		uvarintLen(m.Epoch) +
		uvarintLen(m.Seq) +
		uvarintLen(zigzag(m.Stamp)) +
		uvarintLen(uint64(len(m.Namespace))) + len(m.Namespace) +
		uvarintLen(uint64(len(m.Items)))
	for i, it := range m.Items {
		if len(it) > MaxItemLen {
			return dst, fmt.Errorf("%w: item %d is %d bytes, limit %d", ErrTooLarge, i, len(it), MaxItemLen)
		}
		size += uvarintLen(uint64(len(it))) + len(it)
		// Checked in the loop so that size cannot overflow an int on 32-bit platforms.
		if size > MaxMessageSize {
			return dst, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxMessageSize)
		}
	}
	if size > MaxMessageSize {
		return dst, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, size, MaxMessageSize)
	}

	dst = slices.Grow(dst, size)
	dst = append(dst, magic, Version, byte(m.Kind))
	dst = append(dst, m.Origin[:]...)
	dst = binary.AppendUvarint(dst, m.Epoch)
	dst = binary.AppendUvarint(dst, m.Seq)
	dst = binary.AppendUvarint(dst, zigzag(m.Stamp))
	dst = appendString(dst, m.Namespace)
	dst = binary.AppendUvarint(dst, uint64(len(m.Items)))
	for _, it := range m.Items {
		dst = appendString(dst, it)
	}
	return dst, nil
}

// Decode decodes one message, which must fill b exactly. The strings of the result are
// copies, so the caller may reuse b. Decode never panics: any input that Append could
// not have produced is an error wrapping ErrMalformed, or ErrVersion for a message of
// another version of the encoding.
func Decode(b []byte) (Message, error) {
	var m Message
	switch {
	case len(b) > MaxMessageSize:
		return m, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformed, len(b), MaxMessageSize)
	case len(b) == 0 || b[0] != magic:
		return m, fmt.Errorf("%w: no magic byte", ErrMalformed)
	case len(b) < 2:
		return m, fmt.Errorf("%w: truncated version", ErrMalformed)
	case b[1] != Version:
		return m, fmt.Errorf("%w %d (this package reads %d)", ErrVersion, b[1], Version)
	case len(b) < headerLen:
		return m, fmt.Errorf("%w: truncated header", ErrMalformed)
	}
	m.Kind = Kind(b[2])
	if !m.Kind.valid() {
		return Message{}, fmt.Errorf("%w: unknown %v", ErrMalformed, m.Kind)
	}
	copy(m.Origin[:], b[3:headerLen])

	r := reader{b: b[headerLen:]}
	m.Epoch = r.uvarint("epoch")
	m.Seq = r.uvarint("seq")
	m.Stamp = unzigzag(r.uvarint("stamp"))
	m.Namespace = r.string("namespace")
	n := r.uvarint("item count")
	if r.err != nil {
		return Message{}, r.err
	}
	// Every item takes at least one byte (its length), so a count beyond the remaining
	// input is corrupt; checking it before make bounds the allocation by len(b).
	switch {
	case n > MaxItems:
		return Message{}, fmt.Errorf("%w: %d items, limit %d", ErrMalformed, n, MaxItems)
	case n > uint64(len(r.b)):
		return Message{}, fmt.Errorf("%w: %d items in %d bytes", ErrMalformed, n, len(r.b))
	case n > 0 && !m.Kind.carriesItems():
		return Message{}, fmt.Errorf("%w: %v message with items", ErrMalformed, m.Kind)
	}
	if n > 0 {
		m.Items = make([]string, n)
		for i := range m.Items {
			m.Items[i] = r.string("item")
		}
	}
	if r.err != nil {
		return Message{}, r.err
	}
	if len(r.b) != 0 {
		return Message{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	return m, nil
}

// reader consumes the variable part of a message. After the first error every read
// returns a zero value and err keeps that first error.
type reader struct {
	b   []byte
	err error
}

// uvarint reads a minimally encoded uvarint.
func (r *reader) uvarint(field string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	switch {
	case n == 0:
		r.err = fmt.Errorf("%w: truncated %s", ErrMalformed, field)
		return 0
	case n < 0:
		r.err = fmt.Errorf("%w: %s overflows 64 bits", ErrMalformed, field)
		return 0
	case n > 1 && r.b[n-1] == 0:
		// A final group of zero bits means a shorter encoding exists; accepting it
		// would give one message two encodings.
		r.err = fmt.Errorf("%w: non-minimal %s", ErrMalformed, field)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// string reads a length-prefixed string of at most MaxItemLen bytes, copying it.
func (r *reader) string(field string) string {
	n := r.uvarint(field)
	if r.err != nil {
		return ""
	}
	if n > MaxItemLen {
		r.err = fmt.Errorf("%w: %s of %d bytes, limit %d", ErrMalformed, field, n, MaxItemLen)
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: truncated %s", ErrMalformed, field)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// uvarintLen returns the number of bytes binary.AppendUvarint writes for v.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// zigzag maps signed to unsigned integers the way binary.AppendVarint does, so that
// small magnitudes of either sign encode short.
func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

// unzigzag inverts zigzag.
func unzigzag(u uint64) int64 {
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}
