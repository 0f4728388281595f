//go:build race

package soundness

// raceEnabled makes the default runs shorter under the race detector, which
// slows the checker's database calls several times over.
const raceEnabled = true
