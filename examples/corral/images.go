package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/corral-dev/corral/sandbox/image"
)

// openStore opens the image cache: $CORRAL_IMAGES, else the user's cache
// directory; $CORRAL_IMAGES_MAX bounds it.
func openStore(progress func(image.Progress)) (*image.Store, error) {
	return image.Open(image.Options{Progress: progress})
}

// pull runs "corral pull [-q] REF": it pulls REF afresh into the cache
// and prints the image's digest. Progress goes to stderr as a bar when
// stderr is a terminal (and not -q); otherwise pull is quiet.
func pull(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("corral pull", flag.ContinueOnError)
	fl.SetOutput(stderr)
	quiet := fl.Bool("q", false, "no progress bar")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: corral pull [-q] REF   (REF: registry/name:tag, name@sha256:..., oci:DIR[:TAG], docker-archive:FILE)")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitSetup
	}
	if fl.NArg() != 1 {
		fl.Usage()
		return exitSetup
	}
	ref := fl.Arg(0)
	bar := newPullBar(stderr, ref, *quiet)
	s, err := openStore(bar.report)
	if err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return exitSetup
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	im, err := s.Pull(ctx, ref)
	bar.finish()
	if err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return 1
	}
	fmt.Fprintln(stdout, im.Digest)
	return 0
}

// pullBar draws a pull's progress with a progress bar.
type pullBar struct {
	w     io.Writer
	ref   string
	bar   *progressbar.ProgressBar
	layer int
}

// newPullBar returns a progress bar for pulling ref on w when w is a
// terminal and quiet is not set; else nil, which reports nothing.
func newPullBar(w io.Writer, ref string, quiet bool) *pullBar {
	if f, ok := w.(*os.File); ok && !quiet && term.IsTerminal(int(f.Fd())) {
		return &pullBar{w: w, ref: ref}
	}
	return nil
}

func (b *pullBar) report(p image.Progress) {
	if b != nil && p.Phase == "done" {
		b.finish() // the bar is cleared before the command's output
		return
	}
	if b == nil || (p.Phase != "download" && p.Phase != "unpack") {
		return
	}
	if b.bar == nil {
		total := p.Total
		if total == 0 {
			total = -1 // unknown: a spinner
		}
		b.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetDescription(b.describe(p)))
	}
	if p.Layer != b.layer {
		b.layer = p.Layer
		b.bar.Describe(b.describe(p))
	}
	b.bar.Set64(p.Done)
}

func (b *pullBar) describe(p image.Progress) string {
	return fmt.Sprintf("%s: layer %d/%d", b.ref, p.Layer+1, p.Layers)
}

func (b *pullBar) finish() {
	if b != nil && b.bar != nil {
		b.bar.Finish()
		b.bar = nil
	}
}

// images runs "corral images [ls]", "corral images prune [--all]" and
// "corral images rm REF...".
func images(args []string, stdout, stderr io.Writer) int {
	sub := "ls"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	fl := flag.NewFlagSet("corral images "+sub, flag.ContinueOnError)
	fl.SetOutput(stderr)
	all := false
	if sub == "prune" {
		fl.BoolVar(&all, "all", false, "remove every image not in use, not only those no reference names")
	}
	fl.Usage = func() {
		fmt.Fprint(stderr, `usage:
  corral images [ls]            list the cached images
  corral images prune [--all]   remove images no reference names (--all: every image not in use)
  corral images rm REF...       remove references (and their images), or images by digest
The cache is $CORRAL_IMAGES (default: corral/images in the user's cache directory),
bounded by $CORRAL_IMAGES_MAX (e.g. 8G).
`)
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitSetup
	}
	s, err := openStore(nil)
	if err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return exitSetup
	}
	switch sub {
	case "ls", "list":
		if fl.NArg() != 0 {
			fl.Usage()
			return exitSetup
		}
		return listImages(s, stdout, stderr)
	case "prune":
		if fl.NArg() != 0 {
			fl.Usage()
			return exitSetup
		}
		rep, err := s.Prune(all)
		if err != nil {
			fmt.Fprintln(stderr, "corral:", err)
			return 1
		}
		for _, im := range rep.Removed {
			fmt.Fprintln(stdout, "removed", short(im.Digest))
		}
		fmt.Fprintf(stdout, "freed %s", humanSize(rep.Freed))
		if rep.InUse > 0 {
			fmt.Fprintf(stdout, "; %d in use, kept", rep.InUse)
		}
		fmt.Fprintln(stdout)
		return 0
	case "rm":
		if fl.NArg() == 0 {
			fl.Usage()
			return exitSetup
		}
		code := 0
		for _, ref := range fl.Args() {
			if err := s.Remove(ref); err != nil {
				fmt.Fprintln(stderr, "corral:", err)
				code = 1
				continue
			}
			fmt.Fprintln(stdout, "removed", ref)
		}
		return code
	}
	fmt.Fprintf(stderr, "corral: unknown command \"images %s\"\n", sub)
	fl.Usage()
	return exitSetup
}

func listImages(s *image.Store, stdout, stderr io.Writer) int {
	ims, err := s.List()
	if err != nil {
		fmt.Fprintln(stderr, "corral:", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "REF\tDIGEST\tSIZE\tLAST USED")
	now := time.Now()
	for _, im := range ims {
		refs := im.Refs
		if len(refs) == 0 {
			refs = []string{"<none>"}
		}
		for _, r := range refs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r, short(im.Digest), humanSize(im.Size), ago(now.Sub(im.LastUsed)))
		}
	}
	tw.Flush()
	return 0
}

// short is a digest's first 12 hex digits, as docker shows image IDs.
func short(digest string) string {
	h := strings.TrimPrefix(digest, "sha256:")
	return h[:min(12, len(h))]
}

// humanSize writes n bytes as docker does: decimal units, 3 significant digits.
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}

// ago writes a duration as "3 minutes ago".
func ago(d time.Duration) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, unit)
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/(24*time.Hour)), "day")
}
