package tui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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
		if check == nil {
			return v, nil
		}
		p := check(v)
		if p == "" {
			return v, nil
		}
		fmt.Fprintln(q.out, "  "+p)
	}
	return "", fmt.Errorf("%s: no valid answer after three tries", question)
}

// pick asks for one of the numbered choices and returns its id.
func (q *asker) pick(question string, choices []choice, def int) (string, error) {
	fmt.Fprintln(q.out, question)
	for i, c := range choices {
		fmt.Fprintf(q.out, "  %d) %s — %s\n", i+1, c.label, c.detail)
	}
	v, err := q.ask("Choose 1-"+fmt.Sprint(len(choices)), fmt.Sprint(def+1), func(v string) string {
		var n int
		if _, err := fmt.Sscan(v, &n); err != nil || n < 1 || n > len(choices) {
			return fmt.Sprintf("enter a number from 1 to %d", len(choices))
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
	return "answer y or n"
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
// the wizard's questions one line at a time on out, reads the answers from
// in (an empty line takes the default in brackets), then runs the same flow
// as RunAnswers with progress lines. Opts.Tenant and Opts.Logger apply.
func RunPlain(ctx context.Context, in io.Reader, out io.Writer, b Backend, opts Options) error {
	q := &asker{sc: bufio.NewScanner(in), out: out}
	a := Answers{Tenant: opts.Tenant}
	fmt.Fprintln(out, "Roster setup (plain mode). Press enter to accept the default in brackets.")
	err := func() error {
		var err error
		if a.TLS, err = q.pick("How will Entra reach the agent?", (&reachStep{}).choices(), 0); err != nil {
			return err
		}
		switch a.TLS {
		case TLSACME, TLSFiles:
			h, err := q.ask("Public hostname", "", checkHost)
			if err != nil {
				return err
			}
			a.PublicURL = "https://" + h
			if a.TLS == TLSACME {
				if a.ACMEEmail, err = q.ask("Email for the certificate authority", "", checkEmail(false)); err != nil {
					return err
				}
			} else {
				if a.CertFile, err = q.ask("Certificate file (PEM)", "", notEmpty("a path")); err != nil {
					return err
				}
				if a.KeyFile, err = q.ask("Key file (PEM)", "", notEmpty("a path")); err != nil {
					return err
				}
			}
		case TLSProxy:
			if a.PublicURL, err = q.ask("Public URL", "", checkPublicURL); err != nil {
				return err
			}
			if a.Listen, err = q.ask("Address the agent listens on", "127.0.0.1:8080", nil); err != nil {
				return err
			}
		default:
			if a.PublicURL, err = q.ask("Local URL the on-premises agent calls", "http://localhost:8080", checkURL("http", "https")); err != nil {
				return err
			}
		}
		ds, err := q.ask("Email domains to prove, comma-separated (empty: none)", "", func(v string) string {
			for _, d := range splitList(v) {
				if p := checkHost(d); p != "" {
					return d + ": " + strings.Replace(p, "hostname", "domain", 1)
				}
			}
			return ""
		})
		if err != nil {
			return err
		}
		a.Domains = splitList(ds)
		if a.SignIn, err = q.pick("How do you want to configure Entra?", (&signInStep{}).choices(), 0); err != nil {
			return err
		}
		if a.SignIn == SignInClientSecret {
			return errors.New("client-secret sign-in needs the secret in an environment variable: use an answers file (client_secret_env)")
		}
		if a.SignIn != SignInManual {
			if a.App, err = q.ask("Enterprise application name", "Roster", notEmpty("a name")); err != nil {
				return err
			}
			var opt []string
			for _, m := range Mappings() {
				if !m.Required {
					opt = append(opt, m.Source)
				}
			}
			ms, err := q.ask("Optional mappings to add ("+strings.Join(opt, ", ")+"), comma-separated", "", nil)
			if err != nil {
				return err
			}
			a.Mappings = splitList(ms)
			v, err := q.ask("Match users on employeeId instead of userPrincipalName? (y/n)", "n", checkYesNo)
			if err != nil {
				return err
			}
			a.MatchOnEmployeeID = yes(v)
			if v, err = q.ask("Provision groups? (y/n)", "y", checkYesNo); err != nil {
				return err
			}
			g := yes(v)
			a.ProvisionGroups = &g
			if v, err = q.ask("Provision all users and groups (y), or only those assigned to the app (n)?", "n", checkYesNo); err != nil {
				return err
			}
			if yes(v) {
				a.Scope = "all"
			} else {
				a.Scope = "assigned"
				as, err := q.ask("Users and groups to assign (names, UPNs or IDs, comma-separated)", "", notEmpty("at least one"))
				if err != nil {
					return err
				}
				a.Assign = splitList(as)
			}
			if a.NotificationEmail, err = q.ask("Notification email for provisioning failures (empty: none)", "", checkEmail(true)); err != nil {
				return err
			}
		}
		if a.Agent, err = q.pick("How should the agent run?", (&agentStep{}).choices(), 0); err != nil {
			return err
		}
		if a.SignIn != SignInManual {
			if a.ProvisionOnDemand, err = q.ask("Provision one user on demand now (UPN; empty: skip)", "", nil); err != nil {
				return err
			}
		} else {
			a.WaitFirstRequest = "1h"
		}
		return nil
	}()
	if err != nil {
		return err
	}
	if err := a.Validate(); err != nil {
		return err
	}
	if opts.Logger != nil {
		opts.Logger.Info("plain setup answers collected", "tls", a.TLS, "sign_in", a.SignIn)
	}
	f := &flow{b: b, out: out}
	return f.run(ctx, a)
}
