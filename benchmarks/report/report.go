// Package report is the contract between the benchmark workloads and the command
// that writes BENCHMARKS.md: each workload returns a Section, which the command
// renders as Markdown tables and PNG charts.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// A Section is the result of one workload.
type Section struct {
	ID      string  // short, file-safe: "throughput", "hitratio", ...
	Title   string  // heading in BENCHMARKS.md
	Intro   string  // what is measured and how, in a few sentences (Markdown)
	Tables  []Table // results
	Charts  []Chart // optional; rendered to PNG by the report command
	Notes   []string
	Elapsed float64 // seconds the workload took
}

// A Table is a Markdown table. Ratios against otter (fresh/otter) belong in it as a
// column or row, computed from the same run.
type Table struct {
	Title   string
	Columns []string
	Rows    [][]string
}

// A Chart is rendered to a PNG named <section ID>-<Name>.png.
type Chart struct {
	Name   string // file-safe
	Title  string
	Kind   string // "line" or "bar"
	XLabel string
	YLabel string
	// For "line": each series has X and Y of equal length. For "bar": Categories
	// label the groups and each series has one Y per category.
	Categories []string
	Series     []Series
}

// A Series is one line or one set of bars.
type Series struct {
	Name string
	X    []float64
	Y    []float64
}

// Save writes s as JSON into dir/<ID>.json.
func Save(dir string, s Section) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, s.ID+".json"), b, 0o644)
}

// Load reads a Section written by Save.
func Load(path string) (Section, error) {
	var s Section
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("report: %s: %w", path, err)
	}
	return s, nil
}
