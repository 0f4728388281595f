package hitratio

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ulikunitz/xz"
)

// A trace is a named access stream with the capacities at which the anchor projects
// report their hit ratio (../shared/traces/README.md).
type trace struct {
	name       string
	capacities []int // the capacities of the README
	full       []int // the capacities measured by default, when not all of them
	short      []int // the capacities measured with Options.Short; none: skipped
	// deployed are the capacities measured as deployed, when not all those
	// measured: a subset of full, or of capacities when full is empty. Deployed
	// replays run one at a time, so the long traces are replayed at their small
	// capacities, where an overshoot of a few hundred entries matters.
	deployed []int
	churn    bool // run the churn variant
	load     func(dir string) ([]uint64, error)
}

// deployedCapacities returns the capacities at which t is replayed as deployed.
func (t trace) deployedCapacities() []int {
	if len(t.deployed) == 0 {
		return t.capacities
	}
	return t.deployed
}

func steps(from, step, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i*step
	}
	return out
}

// traces lists the traces in the order of the report.
func traces() []trace {
	return []trace{
		{
			name:       "OLTP",
			capacities: steps(250, 250, 8),
			churn:      true,
			load:       func(dir string) ([]uint64, error) { return readFile(dir, "arc/oltp.gz", readARC) },
		},
		{
			name:       "P3",
			capacities: []int{25_000, 50_000, 100_000, 200_000, 300_000, 400_000, 500_000, 600_000},
			full:       []int{25_000, 300_000},
			deployed:   []int{25_000},
			load:       func(dir string) ([]uint64, error) { return readFile(dir, "arc/p3.gz", readARC) },
		},
		{
			name:       "Glimpse",
			capacities: steps(250, 250, 8),
			short:      []int{500, 1500},
			churn:      true,
			load:       func(dir string) ([]uint64, error) { return readFile(dir, "lirs/gli.gz", readLIRS) },
		},
		{
			name:       "Mixed",
			capacities: steps(250, 250, 8),
			short:      []int{500, 1500},
			churn:      true,
			load:       loadMixed,
		},
		{
			name:       "Scarab",
			capacities: []int{1_000, 5_000, 10_000, 25_000, 50_000, 75_000, 100_000, 125_000},
			deployed:   []int{1_000, 5_000, 10_000, 25_000},
			churn:      true,
			load:       func(dir string) ([]uint64, error) { return readFile(dir, "scarab/scarab-recs.trace.xz", readBinary) },
		},
		{
			name:       "Zipf",
			capacities: []int{500, 1_000, 2_000, 5_000, 10_000, 20_000, 40_000, 80_000},
			deployed:   []int{500, 1_000, 2_000, 5_000},
			short:      []int{5_000, 20_000},
			churn:      true,
			load:       func(string) ([]uint64, error) { return zipfTrace(zipfAccesses), nil },
		},
	}
}

// loadMixed is the Mixed trace: corda, then loop, then corda again, as one stream.
func loadMixed(dir string) ([]uint64, error) {
	corda, err := readFile(dir, "corda/trace_vaultservice.gz", readBinary)
	if err != nil {
		return nil, err
	}
	loop, err := readFile(dir, "lirs/loop.gz", readLIRS)
	if err != nil {
		return nil, err
	}
	out := make([]uint64, 0, 2*len(corda)+len(loop))
	out = append(out, corda...)
	out = append(out, loop...)
	return append(out, corda...), nil
}

// zipfAccesses is the length of the generated Zipf trace.
const zipfAccesses = 1_000_000

// zipfTrace is the generated trace of the README: Zipf with s = 1.0001, v = 10,
// imax = 5e7, from a fixed seed.
func zipfTrace(n int) []uint64 {
	z := rand.NewZipf(rand.New(rand.NewPCG(42, 1)), 1.0001, 10, 5e7)
	out := make([]uint64, n)
	for i := range out {
		out[i] = z.Uint64()
	}
	return out
}

// readFile decompresses dir/name (gzip or xz, by its extension) and parses it with
// read.
func readFile(dir, name string, read func(io.Reader) ([]uint64, error)) ([]uint64, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close() //nolint:errcheck // read-only file: Close reports nothing useful
	var r io.Reader
	switch filepath.Ext(name) {
	case ".gz":
		zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			return nil, fmt.Errorf("hitratio: %s: %w", name, err)
		}
		r = zr
	case ".xz":
		xr, err := xz.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			return nil, fmt.Errorf("hitratio: %s: %w", name, err)
		}
		r = xr
	default:
		r = f
	}
	keys, err := read(bufio.NewReaderSize(r, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("hitratio: %s: %w", name, err)
	}
	return keys, nil
}

// maxRun bounds the keys of one ARC line, so that a corrupt file fails instead of
// exhausting memory (the longest run in the ARC traces is 128 keys).
const maxRun = 1 << 20

// readARC parses the ARC format: each line "start count _ _" stands for accesses to
// start, start+1, ..., start+count-1.
func readARC(r io.Reader) ([]uint64, error) {
	var keys []uint64
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("line %d: want \"start count ...\", got %q", line, sc.Bytes())
		}
		start, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		count, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if count > maxRun || start > math.MaxUint64-count {
			return nil, fmt.Errorf("line %d: a run of %d keys from %d: want at most %d keys, below 2^64", line, count, start, maxRun)
		}
		for i := range count {
			keys = append(keys, start+i)
		}
	}
	return keys, sc.Err()
}

// readLIRS parses the LIRS format: each non-empty line is one key.
func readLIRS(r io.Reader) ([]uint64, error) {
	var keys []uint64
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		k, err := strconv.ParseUint(string(b), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		keys = append(keys, k)
	}
	return keys, sc.Err()
}

// readBinary parses consecutive 8-byte big-endian keys.
func readBinary(r io.Reader) ([]uint64, error) {
	var keys []uint64
	var b [8]byte
	for {
		n, err := io.ReadFull(r, b[:])
		switch {
		case err == nil:
			keys = append(keys, binary.BigEndian.Uint64(b[:]))
		case errors.Is(err, io.EOF):
			return keys, nil
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("a trailing partial key of %d bytes", n)
		default:
			return nil, err
		}
	}
}
