package tui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// asker asks questions one line at a time.
type asker struct {
	sc  *bufio.Scanner
	out io.Writer
}

var errInputEnded = errors.New("input ended before every question was answered")

// ask prints the question with its default and reads an answer until check
// accepts it (at most three tries).
func (q *asker) ask(question, def string, check func(string) string) (string, error) {
	for try := 0; try < 3; try++ {
		if def != "" {
			fmt.Fprintf(q.out, "%s [%s]: ", question, def)
		} else {
			fmt.Fprintf(q.out, "%s: ", question)
		}
		if !q.sc.Scan() {
			fmt.Fprintln(q.out)
			if err := q.sc.Err(); err != nil {
				return "", fmt.Errorf("read answer: %w", err)
			}
			return "", errInputEnded
		}
		v := strings.TrimSpace(q.sc.Text())
		if v == "" {
			v = def
		}
		if v == "-" {
			v = "" // clears a default
		}
		if check == nil {
			return v, nil
		}
		p := check(v)
		if p == "" {
			return v, nil
		}
		fmt.Fprintln(q.out, "  "+sentence(p))
	}
	return "", fmt.Errorf("%s: no valid answer after three tries", strings.TrimRight(question, "?:"))
}

// pick asks for one of the numbered choices and returns its id; check may
// refuse a choice (the answer is asked again).
func (q *asker) pick(question string, choices []choice, def int, check func(string) string) (string, error) {
	fmt.Fprintln(q.out, question)
	for i, c := range choices {
		fmt.Fprintf(q.out, "  %d) %s — %s\n", i+1, c.label, c.detail)
	}
	v, err := q.ask("Choose 1-"+fmt.Sprint(len(choices)), fmt.Sprint(def+1), func(v string) string {
		var n int
		if _, err := fmt.Sscan(v, &n); err != nil || n < 1 || n > len(choices) {
			return fmt.Sprintf("Enter a number from 1 to %d.", len(choices))
		}
		if check != nil {
			return check(choices[n-1].id)
		}
		return ""
	})
	if err != nil {
		return "", err
	}
	var n int
	fmt.Sscan(v, &n)
	return choices[n-1].id, nil
}

func yes(v string) bool { return strings.HasPrefix(strings.ToLower(v), "y") }

func checkYesNo(v string) string {
	switch strings.ToLower(v) {
	case "y", "yes", "n", "no":
		return ""
	}
	return "Answer y or n."
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// RunPlain is the accessible mode for when stdin is not a terminal: it asks
// the flow's questions (flow.go) one line at a time on out and reads the
// answers from in. Each answer is checked as it is given and asked again
// when it does not work; an empty line takes the default in brackets, which
// is the earlier run's answer when there was one (the answers are saved as
// they are given). Then it runs the same flow as RunAnswers. Opts.Tenant and
// Opts.Logger apply.
func RunPlain(ctx context.Context, in io.Reader, out io.Writer, b Backend, opts Options) error {
	q := &asker{sc: bufio.NewScanner(in), out: out}
	st, err := b.LoadState(ctx)
	if err != nil {
		return fmt.Errorf("read saved progress: %w", err)
	}
	prev := answersOf(st)
	if opts.Tenant != "" {
		st.Tenant = opts.Tenant
	}
	a := Answers{Tenant: orDefault(st.Tenant, opts.Tenant)}
	if st.Version > 0 {
		fmt.Fprintln(out, "Roster setup (plain mode). The defaults in brackets are your earlier answers: press enter to keep one.")
	} else {
		fmt.Fprintln(out, "Roster setup (plain mode). Press enter to accept the default in brackets.")
	}
	c := &checks{ctx: ctx, b: b, a: &a}
	step := ""
	for _, qu := range flowQuestions() {
		if qu.fileOnly || !qu.applies(&a) {
			continue
		}
		if qu.step != step && step != "" {
			// Keep what was answered so far: a new run offers it again.
			saveAnswers(ctx, b, st, &a)
		}
		step = qu.step
		if qu.key == "sign_in" {
			qu.choices = slices.DeleteFunc(slices.Clone(qu.choices), func(c choice) bool { return c.id == SignInClientSecret })
		}
		def := qu.get(&prev)
		if def == "" {
			def = qu.defaultFor(&a)
		}
		v, err := q.question(qu, def, func(v string) string {
			if qu.check == nil {
				return ""
			}
			return qu.check(c, v)
		})
		if err != nil {
			saveAnswers(ctx, b, st, &a)
			return err
		}
		qu.set(&a, v)
	}
	if a.SignIn == SignInManual {
		a.WaitFirstRequest = "1h"
	}
	saveAnswers(ctx, b, st, &a)
	if opts.Logger != nil {
		opts.Logger.Info("plain setup answers collected", "tls", a.TLS, "sign_in", a.SignIn)
	}
	f := &flow{b: b, out: out, st: st}
	return f.run(ctx, a)
}

// saveAnswers saves the answers given so far into the progress, at the first
// step (nothing has been done with them yet).
func saveAnswers(ctx context.Context, b Backend, st State, a *Answers) {
	remember(&st, a)
	st.Version, st.Step, st.Done = StateVersion, StepReach, false
	_ = b.SaveState(ctx, st) // the answers still work without it
}

// question asks q with the default def until check accepts the answer.
func (q *asker) question(qu question, def string, check func(string) string) (string, error) {
	switch qu.kind {
	case askChoice:
		i := slices.IndexFunc(qu.choices, func(c choice) bool { return c.id == def })
		return q.pick(qu.label, qu.choices, max(i, 0), check)
	case askYesNo:
		v, err := q.ask(qu.label+" (y/n)", def, checkYesNo)
		return yesNo(yes(v)), err
	default:
		return q.ask(qu.label, def, check)
	}
}
