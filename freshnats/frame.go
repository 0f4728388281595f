package freshnats

// The bus's own framing of a message on the subject: a header that names the
// publisher and numbers its messages, so that a subscriber can tell a gap in what
// a publisher sent, a message this package did not write, and the fragments of a
// message too large for one NATS message.

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A frame is one NATS message of the bus:
//
//	[0:2]   magic "fN"
//	[2]     version, frameVersion
//	[3]     flags: frameMore (another fragment of the message follows),
//	        frameCont (this fragment continues a message begun earlier),
//	        frameControl (the bus's own signal, not a message: see below)
//	[4:12]  publisher id, big-endian: random, one per Bus
//	[12:20] sequence number, big-endian: 1 for the publisher's first frame, then +1
//	[20:]   payload: the message, or one fragment of it
//
// A message that fits in one NATS message is one frame with neither flag. A larger
// one is several frames with consecutive sequence numbers, published together: the
// first has frameMore, the middle ones both flags, the last frameCont. Its place in
// the bus's order is the place of its last frame.
//
// A control frame carries an 8-byte token, and neither fragment flag. In core mode
// a Bus publishes one when a subscription joins a feed that is already running:
// when the feed receives it back, everything it receives afterwards was processed by
// the server after the token, so the new subscription starts there (see
// coreFeed.join). Every other subscriber counts its sequence number and ignores it.
const (
	frameMagic0, frameMagic1 = 'f', 'N'
	frameVersion             = 1
	frameHeaderLen           = 20

	frameMore    = 1 << 0
	frameCont    = 1 << 1
	frameControl = 1 << 2

	controlTokenLen = 8
)

// errFrame is wrapped by the errors of decodeFrame.
var errFrame = errors.New("not a frame of this package")

// frame is a decoded frame; payload aliases the NATS message's data.
type frame struct {
	pub, seq            uint64
	more, cont, control bool
	payload             []byte
}

// appendControl appends a control frame carrying token to dst.
func appendControl(dst []byte, pub, seq, token uint64) []byte {
	dst = append(dst, frameMagic0, frameMagic1, frameVersion, frameControl)
	dst = binary.BigEndian.AppendUint64(dst, pub)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	return binary.BigEndian.AppendUint64(dst, token)
}

// appendFrame appends the frame of payload to dst.
func appendFrame(dst []byte, pub, seq uint64, more, cont bool, payload []byte) []byte {
	var flags byte
	if more {
		flags |= frameMore
	}
	if cont {
		flags |= frameCont
	}
	dst = append(dst, frameMagic0, frameMagic1, frameVersion, flags)
	dst = binary.BigEndian.AppendUint64(dst, pub)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	return append(dst, payload...)
}

// decodeFrame decodes data. The payload of the result aliases data.
func decodeFrame(data []byte) (frame, error) {
	switch {
	case len(data) < frameHeaderLen:
		return frame{}, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", errFrame, len(data), frameHeaderLen)
	case data[0] != frameMagic0 || data[1] != frameMagic1:
		return frame{}, fmt.Errorf("%w: it begins %q", errFrame, data[:2])
	case data[2] != frameVersion:
		return frame{}, fmt.Errorf("%w: version %d, want %d", errFrame, data[2], frameVersion)
	case data[3]&^(frameMore|frameCont|frameControl) != 0:
		return frame{}, fmt.Errorf("%w: unknown flags %#x", errFrame, data[3])
	}
	f := frame{
		pub:     binary.BigEndian.Uint64(data[4:12]),
		seq:     binary.BigEndian.Uint64(data[12:20]),
		more:    data[3]&frameMore != 0,
		cont:    data[3]&frameCont != 0,
		control: data[3]&frameControl != 0,
		payload: data[frameHeaderLen:],
	}
	switch {
	case f.seq == 0:
		return frame{}, fmt.Errorf("%w: sequence number 0", errFrame)
	case f.control && (f.more || f.cont):
		return frame{}, fmt.Errorf("%w: a fragmented control frame", errFrame)
	case f.control && len(f.payload) != controlTokenLen:
		return frame{}, fmt.Errorf("%w: a control frame of %d bytes", errFrame, len(f.payload))
	}
	return f, nil
}

// maxPublishers bounds the publishers an assembler remembers. Past it, it forgets
// the publishers it heard from least recently that are not in the middle of a
// message; a forgotten publisher is a new one when it is heard from again, so a gap
// in its messages just before would go unseen. One Bus is one publisher, so a
// deployment needs thousands of processes, or of buses restarted within the
// subscription's life, before that happens.
const maxPublishers = 4096

// An assembler follows the frames of every publisher on the subject: it checks
// their sequence numbers and puts fragmented messages back together. It belongs to
// one feed's goroutine.
type assembler struct {
	maxSize int // the largest message it puts together
	pubs    map[uint64]*publisherState
	tick    uint64 // counts frames, to order publishers by when they were last heard
}

// publisherState is what an assembler knows of one publisher.
type publisherState struct {
	seq       uint64 // the last sequence number received
	lastHeard uint64 // the assembler's tick when it was received
	partial   []byte // the fragments of the message being received, or nil
	inMsg     bool   // a message is being received (partial holds its start)
	skipping  bool   // the rest of a message whose start was lost is being skipped
}

func newAssembler(maxSize int) *assembler {
	return &assembler{maxSize: maxSize, pubs: make(map[uint64]*publisherState)}
}

// forget drops what the assembler knows of every publisher: after a loss that was
// reported, what follows starts over.
func (a *assembler) forget() { clear(a.pubs) }

// assembleResult is what add made of a frame.
type assembleResult struct {
	msg []byte // a complete message to deliver, or nil
	// control is set for a control frame; token is its token.
	control bool
	token   uint64
	// gap is set when the publisher's sequence skipped: frames from gapFrom to
	// gapTo-1 never arrived. Any message being put together was dropped.
	gap            bool
	gapFrom, gapTo uint64
	// broken is set when the frame cannot be placed in a message: a continuation
	// of a message whose start this subscription never saw (and no gap explains),
	// a message begun before the last one ended, or a message too large. The frame
	// (and the message it belongs to) is dropped.
	broken error
}

// add takes the next frame of the subject. msg in the result aliases f's payload or
// the publisher's buffer, valid until the next call.
func (a *assembler) add(f frame) assembleResult {
	var r assembleResult
	a.tick++
	st, known := a.pubs[f.pub]
	if !known {
		if len(a.pubs) >= maxPublishers {
			a.evict()
		}
		st = &publisherState{}
		a.pubs[f.pub] = st
	} else if f.seq != st.seq+1 {
		r.gap, r.gapFrom, r.gapTo = true, st.seq+1, f.seq
		st.partial, st.inMsg, st.skipping = nil, false, false
	}
	st.seq, st.lastHeard = f.seq, a.tick

	switch {
	case f.control:
		if st.inMsg {
			r.broken = fmt.Errorf("publisher %016x sent a control frame in the middle of a message", f.pub)
		}
		st.partial, st.inMsg, st.skipping = nil, false, false
		r.control, r.token = true, binary.BigEndian.Uint64(f.payload)
		return r
	case !f.cont:
		if st.inMsg {
			// A new message while the last one is unfinished, with no gap between:
			// not what a publisher of this package sends.
			r.broken = fmt.Errorf("publisher %016x began message %d before it finished the one before", f.pub, f.seq)
		}
		st.partial, st.inMsg, st.skipping = nil, false, false
		if !f.more {
			r.msg = f.payload
			return r
		}
		st.partial, st.inMsg = append(st.partial, f.payload...), true
	case st.skipping:
		// The rest of a message whose start went missing; already reported.
	case !st.inMsg:
		// A continuation whose start did not arrive here: the gap just found (which
		// speaks for it) lost the start, or this subscription began in the middle
		// of the message.
		if !r.gap {
			r.broken = fmt.Errorf("frame %d of publisher %016x continues a message whose start was not received", f.seq, f.pub)
		}
		st.skipping = true
	default:
		if len(st.partial)+len(f.payload) > a.maxSize {
			r.broken = fmt.Errorf("publisher %016x sent a message of more than %d bytes", f.pub, a.maxSize)
			st.partial, st.inMsg, st.skipping = nil, false, true
		} else {
			st.partial = append(st.partial, f.payload...)
		}
	}
	if !f.more {
		st.skipping = false
		if st.inMsg {
			r.msg, st.partial, st.inMsg = st.partial, nil, false
		}
	}
	return r
}

// evict forgets the publisher heard from least recently among those not in the
// middle of a message (or, if every one is, the least recent of all).
func (a *assembler) evict() {
	var (
		victim    uint64
		victimAt  = ^uint64(0)
		found     bool
		anyAt     = ^uint64(0)
		anyVictim uint64
	)
	for id, st := range a.pubs {
		if st.lastHeard < anyAt {
			anyAt, anyVictim = st.lastHeard, id
		}
		if !st.inMsg && st.lastHeard < victimAt {
			victimAt, victim, found = st.lastHeard, id, true
		}
	}
	if !found {
		victim = anyVictim
	}
	delete(a.pubs, victim)
}
