package main

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/freshcache/fresh/benchmarks/report"
)

func init() {
	// Sans serif reads better than the default serif at these sizes.
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
}

// Charts are 800x450 pixels: readable inline on GitHub without zooming.
const (
	chartWidthPx  = 800
	chartHeightPx = 450
	chartDPI      = 96
)

// Font sizes, in points at chartDPI.
const (
	titleFontSize  = 15
	labelFontSize  = 12
	tickFontSize   = 10.5
	legendFontSize = 11
)

// A chartFile is one chart of a section rendered to PNG.
type chartFile struct {
	Title string
	Path  string // file written
	Link  string // Path relative to the Markdown file, with slashes
	Err   error  // the chart could not be rendered
}

// renderCharts writes the charts of s into dir as <ID>-<Name>.png; links are
// made relative to linkBase, the directory of the Markdown file.
func renderCharts(s report.Section, dir, linkBase string) []chartFile {
	if len(s.Charts) == 0 {
		return nil
	}
	files := make([]chartFile, 0, len(s.Charts))
	seen := map[string]bool{}
	mkdirErr := os.MkdirAll(dir, 0o755)
	for _, c := range s.Charts {
		title := c.Title
		if title == "" {
			title = c.Name
		}
		f := chartFile{Title: title}
		name := s.ID + "-" + fileSafe(c.Name) + ".png"
		f.Path = filepath.Join(dir, name)
		switch {
		case mkdirErr != nil:
			f.Err = mkdirErr
		case seen[name]:
			f.Err = fmt.Errorf("chart %q: another chart of the section has the same file name %s", c.Name, name)
		default:
			if err := renderChart(f.Path, c); err != nil {
				f.Err = fmt.Errorf("chart %q: %w", c.Name, err)
			}
		}
		seen[name] = true
		f.Link = filepath.ToSlash(f.Path)
		if abs, err := filepath.Abs(f.Path); err == nil {
			if base, err := filepath.Abs(linkBase); err == nil {
				if rel, err := filepath.Rel(base, abs); err == nil {
					f.Link = filepath.ToSlash(rel)
				}
			}
		}
		files = append(files, f)
	}
	return files
}

// fileSafe maps name to lower-case letters, digits, '-', '_' and '.'.
func fileSafe(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-.")
	if s == "" {
		return "chart"
	}
	return s
}

// renderChart draws c to a PNG file at path.
func renderChart(path string, c report.Chart) error {
	canvas, err := drawChart(c)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = vgimg.PngCanvas{Canvas: canvas}.WriteTo(f)
	return errors.Join(err, f.Close())
}

// drawChart draws c on an image canvas of chartWidthPx x chartHeightPx. The
// legend goes to the right of the plot, where it hides no data.
func drawChart(c report.Chart) (*vgimg.Canvas, error) {
	p, legend, err := buildPlot(c)
	if err != nil {
		return nil, err
	}
	w := vg.Length(chartWidthPx) * vg.Inch / chartDPI
	h := vg.Length(chartHeightPx) * vg.Inch / chartDPI
	canvas := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(chartDPI))
	dc := draw.New(canvas)
	// Plot.Draw fills only its own area: paint the legend's side too.
	dc.SetColor(color.White)
	dc.Fill(dc.Path())

	const pad = 8 * vg.Millimeter / 3 // about 8 px
	dc = draw.Crop(dc, pad, -pad, pad/2, -pad/2)
	var legendW vg.Length
	if legend != nil {
		legendW = legend.Rectangle(dc).Size().X + 2*pad
		legendW = min(legendW, dc.Size().X*2/5)
	}
	p.Draw(draw.Crop(dc, 0, -legendW, 0, 0))
	if legend != nil {
		top := vg.Length(0)
		if p.Title.Text != "" {
			top = p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding
		}
		legend.Draw(draw.Crop(dc, dc.Size().X-legendW+pad, 0, 0, -top))
	}
	return canvas, nil
}

// buildPlot turns c into a gonum plot and a legend (nil when there is nothing
// to tell apart).
func buildPlot(c report.Chart) (*plot.Plot, *plot.Legend, error) {
	if len(c.Series) == 0 {
		return nil, nil, errors.New("no series")
	}
	p := plot.New()
	p.Title.Text = c.Title
	p.Title.TextStyle.Font.Size = titleFontSize
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = labelFontSize
		a.Tick.Label.Font.Size = tickFontSize
		a.Padding = vg.Points(4)
	}
	legend := plot.NewLegend()
	legend.TextStyle.Font.Size = legendFontSize
	legend.Top, legend.Left = true, true
	legend.ThumbnailWidth = vg.Points(24)
	legend.Padding = vg.Points(3)

	names := make([]string, len(c.Series))
	for i, s := range c.Series {
		names[i] = s.Name
	}
	colors := seriesColors(names)

	grid := plotter.NewGrid()
	grid.Horizontal.Color = color.Gray{Y: 215}
	grid.Vertical.Color = color.Gray{Y: 228}
	p.Add(grid)

	var err error
	switch c.Kind {
	case "line":
		err = addLines(p, &legend, c, colors)
	case "bar":
		grid.Vertical.Color = nil
		err = addBars(p, &legend, c, colors)
	default:
		err = fmt.Errorf("unknown kind %q (want line or bar)", c.Kind)
	}
	if err != nil {
		return nil, nil, err
	}
	if len(c.Series) == 1 && c.Series[0].Name == "" || c.Kind == "bar" && (len(c.Series) == 1 || len(c.Categories) == 1) {
		// Nothing to tell apart, or the bars are named on the axis.
		return p, nil, nil
	}
	return p, &legend, nil
}

// Glyphs tell lines apart where colours do not (print, colour blindness).
var glyphs = []draw.GlyphDrawer{
	draw.CircleGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}, draw.TriangleGlyph{},
	draw.RingGlyph{}, draw.SquareGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{},
}

func addLines(p *plot.Plot, legend *plot.Legend, c report.Chart, colors []color.Color) error {
	var xs, ys []float64
	for i, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("series %q: %d X values but %d Y values", s.Name, len(s.X), len(s.Y))
		}
		// A missing measurement (NaN or Inf) breaks the line into segments.
		var segments []plotter.XYs
		var seg plotter.XYs
		for j := range s.X {
			if !finite(s.X[j]) || !finite(s.Y[j]) {
				if len(seg) > 0 {
					segments, seg = append(segments, seg), nil
				}
				continue
			}
			seg = append(seg, plotter.XY{X: s.X[j], Y: s.Y[j]})
			xs, ys = append(xs, s.X[j]), append(ys, s.Y[j])
		}
		if len(seg) > 0 {
			segments = append(segments, seg)
		}
		for k, pts := range segments {
			line, points, err := plotter.NewLinePoints(pts)
			if err != nil {
				return fmt.Errorf("series %q: %w", s.Name, err)
			}
			line.Color = colors[i]
			line.Width = vg.Points(1.6)
			if isFresh(s.Name) {
				line.Width = vg.Points(2.6)
			}
			points.Color = colors[i]
			points.Shape = glyphs[i%len(glyphs)]
			points.Radius = vg.Points(3)
			p.Add(line, points)
			if k == 0 {
				legend.Add(s.Name, line, points)
			}
		}
	}
	if len(xs) == 0 {
		return errors.New("no finite data points")
	}
	setScale(&p.X, xs)
	setScale(&p.Y, ys)
	return nil
}

func addBars(p *plot.Plot, legend *plot.Legend, c report.Chart, colors []color.Color) error {
	if len(c.Categories) == 0 {
		return errors.New("bar chart without categories")
	}
	if len(c.Categories) == 1 && len(c.Series) > 1 {
		// One group of bars reads better with each bar named under it.
		one := report.Chart{Series: []report.Series{{Name: c.Categories[0]}}}
		for _, s := range c.Series {
			if len(s.Y) != 1 {
				return fmt.Errorf("series %q: %d values for 1 category", s.Name, len(s.Y))
			}
			one.Categories = append(one.Categories, s.Name)
			one.Series[0].Y = append(one.Series[0].Y, s.Y[0])
		}
		c, colors = one, nil
	}
	// Bars are sized in points, so estimate the plotting area: the canvas less
	// the legend and the Y axis.
	area := vg.Length(chartWidthPx)*vg.Inch/chartDPI*0.75 - vg.Points(60)
	group := area / vg.Length(len(c.Categories)) * 0.8
	bar := group / vg.Length(len(c.Series))
	for i, s := range c.Series {
		if len(s.Y) != len(c.Categories) {
			return fmt.Errorf("series %q: %d values for %d categories", s.Name, len(s.Y), len(c.Categories))
		}
		vals := make(plotter.Values, len(s.Y))
		for j, y := range s.Y {
			// A missing measurement (NaN or Inf) gets no bar.
			if finite(y) {
				vals[j] = y
			}
		}
		if len(c.Series) == 1 {
			// One series over categories (often one bar per library): each bar
			// takes its category's colour and the axis labels name them.
			catColors := seriesColors(c.Categories)
			for j, v := range vals {
				b, err := plotter.NewBarChart(plotter.Values{v}, bar)
				if err != nil {
					return fmt.Errorf("series %q: %w", s.Name, err)
				}
				b.XMin = float64(j)
				b.Color = catColors[j]
				b.LineStyle.Width = 0
				p.Add(b)
			}
			break
		}
		b, err := plotter.NewBarChart(vals, bar)
		if err != nil {
			return fmt.Errorf("series %q: %w", s.Name, err)
		}
		b.Color = colors[i]
		b.LineStyle.Width = 0
		b.Offset = (vg.Length(i) - vg.Length(len(c.Series)-1)/2) * bar
		p.Add(b)
		legend.Add(s.Name, b)
	}
	p.Y.Tick.Marker = humanTicks(plot.DefaultTicks{})
	p.NominalX(c.Categories...)
	// Slant the category labels when they would run into each other.
	var labels vg.Length
	for _, cat := range c.Categories {
		labels += p.X.Tick.Label.Width(cat) + vg.Points(6)
	}
	if labels > area {
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
	return nil
}

// setScale picks a logarithmic scale for an axis whose positive values span
// two orders of magnitude or more (entries from 1 to 1M, latencies from ns to
// ms); otherwise a linear one.
func setScale(a *plot.Axis, vs []float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if lo > 0 && hi/lo >= 100 {
		a.Scale = plot.LogScale{}
		a.Tick.Marker = humanTicks(plot.LogTicks{Prec: -1})
		return
	}
	a.Tick.Marker = humanTicks(plot.DefaultTicks{})
}

// humanTicks relabels t's labelled ticks with k, M and G suffixes: 2M rather
// than 2e+06.
func humanTicks(t plot.Ticker) plot.Ticker {
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		ticks := t.Ticks(lo, hi)
		for i := range ticks {
			if ticks[i].Label != "" {
				ticks[i].Label = humanNumber(ticks[i].Value)
			}
		}
		return ticks
	})
}

// humanNumber formats v with at most four significant digits and an SI suffix.
func humanNumber(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', 4, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Colours: each library keeps its colour from one chart to the next. A family
// is one library's shades: the series named exactly like the library takes the
// first, its variants (fresh-1dep, otter-expiry, otter + tag map) the next
// ones. fresh is blue; anything else takes a free colour of a fallback list.
var (
	families = []struct {
		match  string
		shades []color.Color
	}{
		{"fresh", []color.Color{
			rgb(0x1c, 0x5d, 0xb8), rgb(0x5a, 0xa9, 0xf0), rgb(0x0b, 0x2f, 0x66), rgb(0x9c, 0xcb, 0xf5),
			rgb(0x2a, 0x8f, 0xb0), rgb(0x4a, 0x55, 0xc8), rgb(0x7f, 0x98, 0xc4), rgb(0x12, 0x46, 0x7f),
		}},
		{"otter", []color.Color{rgb(0xf2, 0x80, 0x1c), rgb(0xf7, 0xb2, 0x67), rgb(0xb3, 0x58, 0x0a), rgb(0xff, 0xd3, 0x9b)}},
		{"theine", []color.Color{rgb(0x2e, 0x9e, 0x45), rgb(0x8f, 0xd1, 0x9e)}},
		{"ristretto", []color.Color{rgb(0xcf, 0x2f, 0x2f), rgb(0xf0, 0x8a, 0x8a)}},
		{"sturdyc", []color.Color{rgb(0x8a, 0x5c, 0xc2), rgb(0xc3, 0xa6, 0xe6)}},
		{"ttlcache", []color.Color{rgb(0x8c, 0x5a, 0x43), rgb(0xc4, 0x9c, 0x85)}},
		{"gocache", []color.Color{rgb(0xdb, 0x6c, 0xb8), rgb(0xf0, 0xb0, 0xdd)}},
		{"eko", []color.Color{rgb(0xdb, 0x6c, 0xb8), rgb(0xf0, 0xb0, 0xdd)}},
		{"xsync", []color.Color{rgb(0x70, 0x70, 0x70), rgb(0xb0, 0xb0, 0xb0)}},
	}
	otherColors = []color.Color{
		rgb(0xb5, 0xb0, 0x1e), rgb(0x17, 0xae, 0xbd), rgb(0x6b, 0x8e, 0x23), rgb(0xe0, 0xb0, 0x40),
		rgb(0x40, 0x40, 0x90), rgb(0x90, 0x40, 0x40), rgb(0x2f, 0x4f, 0x4f), rgb(0xa0, 0x52, 0x2d),
	}
)

func rgb(r, g, b uint8) color.Color { return color.RGBA{R: r, G: g, B: b, A: 0xff} }

func isFresh(name string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(name)), "fresh")
}

// family returns the index in families of the library name belongs to, or -1.
// fresh is matched as a prefix (fresh-1dep), the others anywhere in the name
// (otter + tag map, eko/gocache).
func family(name string) int {
	lower := strings.ToLower(strings.TrimSpace(name))
	for i, f := range families {
		if f.match == "fresh" && strings.HasPrefix(lower, "fresh") ||
			f.match != "fresh" && strings.Contains(lower, f.match) {
			return i
		}
	}
	return -1
}

// seriesColors assigns one distinct colour per series name.
func seriesColors(names []string) []color.Color {
	out := make([]color.Color, len(names))
	used := map[color.Color]bool{}
	take := func(i int, cs []color.Color) {
		for _, c := range cs {
			if !used[c] {
				used[c], out[i] = true, c
				return
			}
		}
	}
	// Exact library names first, so that they get their family's first shade
	// whatever the order of the series.
	for i, name := range names {
		if f := family(name); f >= 0 && strings.EqualFold(strings.TrimSpace(name), families[f].match) {
			take(i, families[f].shades[:1])
		}
	}
	for i, name := range names {
		if f := family(name); f >= 0 && out[i] == nil {
			take(i, families[f].shades)
		}
	}
	for i := range out {
		if out[i] == nil {
			take(i, otherColors)
		}
		if out[i] == nil {
			// More series than colours: reuse; the glyphs still differ.
			out[i] = otherColors[i%len(otherColors)]
		}
	}
	return out
}
