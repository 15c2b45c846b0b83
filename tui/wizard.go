package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aymanbagabas/go-osc52/v2"
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/rosterhq/roster/tui/styles"
)

// ErrQuit is returned by Run when the owner quits before the summary; the
// progress is saved and the next run resumes.
var ErrQuit = errors.New("setup quit before the end (run it again to resume)")

// Options configure the interactive wizard.
type Options struct {
	Tenant    string        // tenant to set up; empty: "default"
	Logger    *slog.Logger  // where the wizard logs (a file, never the screen); nil: discard
	Input     io.Reader     // nil: stdin
	Output    io.Writer     // nil: stdout
	AltScreen bool          // use the terminal's alternate screen
	Still     bool          // draw a fixed spinner frame (tests, screen readers)
	Debounce  time.Duration // pause after typing before searching; zero: 250ms
}

// session is what every step shares: the backend, the answers, and what
// exists only in memory (the token, the Graph sign-in).
type session struct {
	ctx      context.Context
	b        Backend
	log      *slog.Logger
	st       State
	token    Secret     // shown once; never saved
	conn     *Connected // the credential Configure gave Entra in this run
	account  *Account   // signed in during this run
	agent    *AgentInfo
	existing *Existing
	domains  []Domain // the tenant's domains as last shown (printed again at the end)
	resumeAt string   // step to jump to once signed in again
	backward bool     // the current step was entered going back (esc)
	width    int
	height   int
	still    bool
	debounce time.Duration
	seq      int
}

func (s *session) tenant() string {
	if s.st.Tenant == "" {
		return "default"
	}
	return s.st.Tenant
}

// step is one screen of the wizard. Steps change in place and talk to the
// router with nextMsg, prevMsg and gotoMsg (huh's navigation pattern).
type step interface {
	init(s *session) tea.Cmd
	update(s *session, msg tea.Msg) tea.Cmd
	view(s *session) string
	keys(s *session) []key.Binding
	typing() bool // a text input has the focus: q and letters go to it
	operation() *op
}

// backer is a step with its own inner Back (for example a form's first page).
type backer interface {
	back(s *session) (tea.Cmd, bool)
}

// copier is a step that shows values to copy: y puts the first on the
// clipboard, p prints them all whole above the wizard.
type copier interface {
	copyValues(s *session) []copyItem
}

// secretShower is a step that can print a secret the owner does not need
// (Roster saved it in Entra): only when asked, with keys.Secret.
type secretShower interface {
	secretValues(s *session) []copyItem
}

// secretsOf returns the step's secrets to print on request, if any.
func secretsOf(st step, s *session) []copyItem {
	if sh, ok := st.(secretShower); ok && !st.typing() {
		return sh.secretValues(s)
	}
	return nil
}

// copyItem is a value to copy and what it is.
type copyItem struct{ what, value string }

// firstCopy returns the first value of the step that is not empty.
func firstCopy(st step, s *session) (copyItem, bool) {
	if c, ok := st.(copier); ok {
		for _, it := range c.copyValues(s) {
			if it.value != "" {
				return it, true
			}
		}
	}
	return copyItem{}, false
}

// tooWide reports whether one of the step's values is wider than the terminal.
func tooWide(st step, s *session) bool {
	if c, ok := st.(copier); ok {
		for _, it := range c.copyValues(s) {
			if lipgloss.Width(it.value) > s.width {
				return true
			}
		}
	}
	return false
}

type (
	nextMsg  struct{}
	prevMsg  struct{}
	gotoMsg  struct{ step string }
	savedMsg struct{ err error }
	quitMsg  struct{ done bool }
)

func next() tea.Msg { return nextMsg{} }

// model is the parent router (glow's ui.go pattern): it owns the session,
// the current step, the spinner and the help line.
type model struct {
	s        *session
	id       string
	cur      step
	spin     spinner.Model
	help     help.Model
	warn     string // a problem outside the step (saving the state)
	note     string // what the last key did outside the step (copied)
	out      io.Writer
	alt      bool // the program runs in the alternate screen
	inline   bool // left the alternate screen to print values whole (p)
	quitArm  bool // ctrl+c pressed once
	quitting bool
	done     bool
}

func newModel(ctx context.Context, b Backend, opts Options) *model {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := opts.Debounce
	if d == 0 {
		d = 250 * time.Millisecond
	}
	s := &session{ctx: ctx, b: b, log: log, width: 80, height: 24, still: opts.Still, debounce: d}
	s.st.Tenant = opts.Tenant
	sp := spinner.New(spinner.WithSpinner(spinner.Dot), spinner.WithStyle(styles.Spinner))
	h := help.New()
	h.Width = s.width
	out := opts.Output
	if out == nil {
		out = os.Stdout
	}
	m := &model{s: s, spin: sp, help: h, out: out, alt: opts.AltScreen}
	m.id, m.cur = StepWelcome, newStep(StepWelcome)
	return m
}

func newStep(id string) step {
	switch id {
	case StepWelcome:
		return &welcomeStep{}
	case StepReach:
		return &reachStep{}
	case StepToken:
		return &tokenStep{}
	case StepDomains:
		return &domainsStep{}
	case StepSignIn:
		return &signInStep{}
	case StepApp:
		return &appStep{}
	case StepMappings:
		return &mappingsStep{}
	case StepSettings:
		return &settingsStep{}
	case StepAssign:
		return &assignStep{}
	case StepCredential:
		return &credentialStep{}
	case StepAgent:
		return &agentStep{}
	case StepConnect:
		return &connectStep{}
	case StepProvision:
		return &provisionStep{}
	case StepManual:
		return &manualStep{}
	default:
		return &summaryStep{}
	}
}

// Init implements tea.Model.
func (m *model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.cur.init(m.s)}
	if !m.s.still {
		cmds = append(cmds, m.spin.Tick)
	}
	return tea.Batch(cmds...)
}

func (m *model) enter(id string) tea.Cmd {
	if o := m.cur.operation(); o != nil {
		o.stop()
	}
	if st, ok := m.cur.(interface{ stopOps() }); ok {
		st.stopOps()
	}
	m.s.log.Info("step", "from", m.id, "to", id)
	m.id, m.cur = id, newStep(id)
	m.quitArm, m.note = false, ""
	var back tea.Cmd
	if m.inline {
		m.inline = false
		if m.alt {
			back = tea.EnterAltScreen
		}
	}
	save := tea.Cmd(nil)
	if id != StepWelcome {
		m.s.st.Step = id
		m.s.st.Version = StateVersion
		m.s.st.Done = id == StepSummary
		st := m.s.st
		s := m.s
		save = func() tea.Msg { return savedMsg{err: s.b.SaveState(s.ctx, st)} }
	}
	return tea.Batch(back, save, m.cur.init(m.s))
}

// Update implements tea.Model.
func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.s.width, m.s.height = msg.Width, msg.Height
		m.help.Width = msg.Width
	case spinner.TickMsg:
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return m, cmd
	case nextMsg:
		m.s.backward = false
		if n := nextStep(m.s.st, m.id); n != "" {
			return m, m.enter(n)
		}
		return m, nil
	case prevMsg:
		m.s.backward = true
		if p := prevStep(m.s.st, m.id); p != "" {
			return m, m.enter(p)
		}
		return m, nil
	case gotoMsg:
		m.s.backward = false
		return m, m.enter(msg.step)
	case savedMsg:
		if msg.err != nil {
			m.warn = "Could not save the progress (" + msg.err.Error() + "); setup goes on, but a new run will not resume here."
			m.s.log.Error("save state", "err", msg.err)
		} else {
			m.warn = ""
		}
		return m, nil
	case quitMsg:
		m.quitting, m.done = true, msg.done
		return m, tea.Quit
	case tea.KeyMsg:
		if cmd, handled := m.key(msg); handled {
			return m, cmd
		}
	}
	return m, m.cur.update(m.s, msg)
}

// key handles the keys that mean the same on every step.
func (m *model) key(msg tea.KeyMsg) (tea.Cmd, bool) {
	o := m.cur.operation()
	if key.Matches(msg, keys.Interrupt) {
		if o != nil && o.busy() {
			// The first ctrl+c stops what runs and, as on every step, arms
			// the quit: the help line says ctrl+c quits.
			o.stop()
			m.quitArm = true
			return nil, true
		}
		if m.quitArm {
			return func() tea.Msg { return quitMsg{} }, true
		}
		m.quitArm = true
		return nil, true
	}
	m.quitArm, m.note = false, ""
	// Copying and printing the values work while an operation runs (the
	// manual path waits for Entra while the owner pastes the token).
	if it, ok := firstCopy(m.cur, m.s); ok && !m.cur.typing() {
		switch {
		case key.Matches(msg, keys.Copy):
			m.copy(it.what, it.value)
			return nil, true
		case key.Matches(msg, keys.Print):
			return m.printValues(m.cur.(copier).copyValues(m.s)), true
		}
	}
	if sec := secretsOf(m.cur, m.s); len(sec) > 0 && key.Matches(msg, keys.Secret) {
		return m.printValues(sec), true
	}
	if o != nil && o.busy() {
		if key.Matches(msg, keys.Cancel) {
			o.stop()
		}
		return nil, true // nothing else while waiting
	}
	if key.Matches(msg, keys.Back) {
		if b, ok := m.cur.(backer); ok {
			if cmd, handled := b.back(m.s); handled {
				return cmd, true
			}
		}
		if o != nil {
			o.err = nil
		}
		return func() tea.Msg { return prevMsg{} }, true
	}
	if o != nil && o.failed() && key.Matches(msg, keys.RetryTyping) {
		return o.again(), true
	}
	if m.cur.typing() {
		return nil, false // every other key is text for the field
	}
	if o != nil && o.failed() && key.Matches(msg, keys.Retry) {
		return o.again(), true
	}
	if key.Matches(msg, keys.Quit) {
		return func() tea.Msg { return quitMsg{} }, true
	}
	return nil, false
}

// copy puts v on the terminal's clipboard with an OSC 52 escape sequence
// (through tmux or screen when the wizard runs inside one).
func (m *model) copy(what, v string) {
	seq := osc52.New(v)
	switch {
	case os.Getenv("TMUX") != "":
		seq = seq.Tmux()
	case strings.HasPrefix(os.Getenv("TERM"), "screen"):
		seq = seq.Screen()
	}
	if _, err := seq.WriteTo(m.out); err != nil {
		m.note = "Could not copy the " + what + ": " + err.Error() + "."
		return
	}
	m.s.log.Info("copied to the clipboard", "what", what)
	m.note = "Copied the " + what + " to the clipboard (if your terminal allows OSC 52 copying; otherwise select it with the mouse)."
}

// printValues prints the step's values above the wizard, each whole on its
// own line where the terminal wraps it without a newline (the renderer cuts
// lines wider than the screen). Out of the alternate screen this is the
// terminal's scrollback; the wizard returns to the full screen on the next step.
func (m *model) printValues(items []copyItem) tea.Cmd {
	var cmds []tea.Cmd
	if m.alt && !m.inline {
		cmds = append(cmds, tea.ExitAltScreen)
	}
	m.inline = true
	var lines []string
	for _, it := range items {
		switch {
		case strings.Contains(it.value, " "):
			// Prose (a portal step), not a value to copy whole: wrapped
			// at words, like the screen's text.
			lines = append(lines, it.what+":", wrapBody(it.value, max(m.s.width, 40)))
		case it.value != "":
			lines = append(lines, it.what+":", it.value)
		}
	}
	cmds = append(cmds, tea.Println(strings.Join(lines, "\n"))) // one message: printed together
	m.s.log.Info("printed the values to copy")
	m.note = "Printed above, each value whole on its own line."
	return tea.Sequence(cmds...)
}

// copyBindings are the help line's y and p, where they work.
func (m *model) copyBindings() []key.Binding {
	it, ok := firstCopy(m.cur, m.s)
	if !ok || m.cur.typing() {
		return nil
	}
	what := it.what
	if i := strings.Index(what, " of "); i > 0 {
		what = what[:i]
	}
	bs := []key.Binding{key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "copy "+what))}
	if tooWide(m.cur, m.s) {
		bs = append(bs, keys.Print)
	}
	return bs
}

// retryKey is the key that retries on the current step.
func (m *model) retryKey() key.Binding {
	if m.cur.typing() {
		return keys.RetryTyping
	}
	return keys.Retry
}

// failure is what the footer says when an operation failed: what went wrong
// and what to do, as whole sentences, the advice only once.
func failure(o *op) (string, string) {
	msg := o.err.Error()
	advice := hintOf(o.err, o.hint)
	if advice != "" {
		// An error may carry its advice in its message already (graph.Error).
		if i := strings.Index(msg, advice); i > 0 {
			msg = strings.TrimRight(msg[:i], " →\n")
		}
	}
	msg = strings.Join(strings.Fields(msg), " ")
	return sentence("Failed while " + o.label + ": " + msg), sentence(advice)
}

// sentence makes s a whole sentence: a capital first letter, and a full stop
// unless it ends in one (or in ? or !) already.
func sentence(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), ";:, ")
	if s == "" {
		return ""
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") && !strings.HasSuffix(s, ".)") {
		s += "."
	}
	return s
}

// copyMark starts a line that holds a value to copy (an SGR reset: invisible,
// and never part of a selection). The router never wraps such a line, so the
// value is never split by a newline.
const copyMark = "\x1b[0m"

// copyLine renders v alone on its line, from the first column. A value wider
// than the terminal would be cut by the renderer, so then the line says so
// and how to get the value instead.
func copyLine(s *session, what, v string) string {
	if w := lipgloss.Width(v); s.width > 0 && w > s.width {
		return styles.Warn.Render(fmt.Sprintf("(The %s is %d characters, wider than this %d-column terminal: press p to print it whole above, y to copy it, or widen the terminal.)", what, w, s.width))
	}
	return copyMark + styles.Value.Render(v)
}

// wrapBody wraps the step's text to w columns, except the lines holding a
// value to copy.
func wrapBody(body string, w int) string {
	lines := strings.Split(body, "\n")
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if strings.HasPrefix(l, copyMark) || ansi.StringWidth(l) <= w {
			out = append(out, l)
			continue
		}
		// Continuation lines keep the line's indent.
		n := len(l) - len(strings.TrimLeft(l, " "))
		if n > w/2 {
			n = 0
		}
		for _, c := range strings.Split(ansi.Wrap(l[n:], w-n, ""), "\n") {
			out = append(out, strings.Repeat(" ", n)+c)
		}
	}
	return strings.Join(out, "\n")
}

// View implements tea.Model.
func (m *model) View() string {
	if m.quitting {
		return ""
	}
	w := m.s.width
	wrap := lipgloss.NewStyle().Width(w)
	n, total := position(m.s.st, m.id)
	head := styles.Title.Render(stepTitles[m.id]) + styles.Progress.Render(fmt.Sprintf("  ·  Roster setup, step %d of %d", n, total))
	if lipgloss.Width(head) > w { // a narrow terminal: the title on one line
		head = styles.Title.Render(stepTitles[m.id]) + styles.Progress.Render(fmt.Sprintf("  ·  step %d of %d", n, total))
	}
	if m.inline {
		// The values were printed above: a short screen keeps them in view.
		return strings.Join([]string{wrap.Render(head), "", wrap.Render(styles.Good.Render(m.note) + " Select one to copy it; enter goes on."),
			"", ansi.Truncate(m.help.ShortHelpView(m.bindings()), w, "…")}, "\n")
	}

	var foot []string
	if o := m.cur.operation(); o != nil {
		switch {
		case o.busy():
			frame := m.spin.View()
			if m.s.still {
				frame = styles.Spinner.Render("⣾")
			}
			foot = append(foot, frame+" "+o.label+"…")
		case o.cancelled():
			foot = append(foot, styles.Warn.Render(sentence("Cancelled while "+o.label))+" Press "+m.retryKey().Help().Key+" to try again, or esc to go back.")
		case o.err != nil:
			what, advice := failure(o)
			foot = append(foot, styles.Bad.Render("✗ ")+what)
			foot = append(foot, strings.TrimSpace(advice+" Press "+m.retryKey().Help().Key+" to retry."))
		}
	}
	if m.warn != "" {
		foot = append(foot, styles.Warn.Render(m.warn))
	}
	if m.note != "" {
		foot = append(foot, styles.Good.Render(m.note))
	}
	if m.quitArm {
		foot = append(foot, styles.Warn.Render("Press ctrl+c again to quit (progress is saved)."))
	}
	helpLine := ansi.Truncate(m.help.ShortHelpView(m.bindings()), w, "…")

	footer := wrap.Render(strings.Join(foot, "\n"))
	if len(foot) == 0 {
		footer = ""
	}
	body := wrapBody(m.cur.view(m.s), w)
	// Keep everything on screen: the body gives way to the header and footer.
	room := m.s.height - lipgloss.Height(wrap.Render(head)) - 1 - lipgloss.Height(helpLine) - 1
	if footer != "" {
		room -= lipgloss.Height(footer) + 1
	}
	lines := strings.Split(body, "\n")
	if room > 0 && len(lines) > room {
		lines = append(lines[:room-1], styles.Muted.Render("… (make the terminal taller to see the rest)"))
	}
	parts := []string{wrap.Render(head), "", strings.Join(lines, "\n")}
	if footer != "" {
		parts = append(parts, "", footer)
	}
	parts = append(parts, "", helpLine)
	return strings.Join(parts, "\n")
}

func (m *model) bindings() []key.Binding {
	o := m.cur.operation()
	if o != nil && o.busy() {
		return append(m.copyBindings(), keys.Cancel, keys.Interrupt)
	}
	var bs []key.Binding
	bs = append(bs, m.cur.keys(m.s)...)
	if o != nil && o.failed() {
		bs = append(bs, m.retryKey())
	}
	bs = append(bs, m.copyBindings()...)
	if len(secretsOf(m.cur, m.s)) > 0 {
		bs = append(bs, keys.Secret)
	}
	if m.id != StepWelcome {
		bs = append(bs, keys.Back)
	}
	if !m.cur.typing() {
		bs = append(bs, keys.Quit)
	} else {
		bs = append(bs, keys.Interrupt)
	}
	return bs
}

// Run runs the interactive wizard until the owner finishes (nil) or quits
// (ErrQuit); the progress is saved after each step either way.
func Run(ctx context.Context, b Backend, opts Options) error {
	m := newModel(ctx, b, opts)
	popts := []tea.ProgramOption{tea.WithContext(ctx)}
	if opts.AltScreen {
		popts = append(popts, tea.WithAltScreen())
	}
	if opts.Input != nil {
		popts = append(popts, tea.WithInput(opts.Input))
	}
	if opts.Output != nil {
		popts = append(popts, tea.WithOutput(opts.Output))
	}
	final, err := tea.NewProgram(m, popts...).Run()
	if err != nil {
		return fmt.Errorf("setup wizard: %w", err)
	}
	fm, ok := final.(*model)
	if !ok {
		return ErrQuit
	}
	// The screen is gone (the alternate screen closed, or the last frame
	// cleared): what the owner needs later goes to the scrollback.
	fmt.Fprint(m.out, afterExit(fm.s, fm.done))
	if fm.done {
		return nil
	}
	return ErrQuit
}

// afterExit is what stays in the terminal once the wizard has ended: the
// summary and the next commands when it finished, the Tenant URL otherwise,
// and the TXT records still to publish. Each value is alone on its line.
func afterExit(s *session, done bool) string {
	var b strings.Builder
	if done {
		b.WriteString(wrapBody((&summaryStep{}).view(s), max(s.width, 40)) + "\n")
	} else if s.st.TenantURL != "" {
		b.WriteString("\n" + styles.Label.Render("Tenant URL") + "\n" + s.st.TenantURL + "\n")
	}
	var pending []Domain
	for _, d := range s.domains {
		if d.State != DomainVerified && d.TXTValue != "" {
			pending = append(pending, d)
		}
	}
	if len(pending) > 0 {
		b.WriteString("\n" + styles.Label.Render("TXT records to publish") + " (the agent keeps checking; see `roster domain list`)\n")
		for _, d := range pending {
			b.WriteString("\n" + d.Name + ": name, then value\n" + d.TXTName + "\n" + d.TXTValue + "\n")
		}
	}
	return b.String()
}

// stripped returns s without ANSI escapes (for tests and width checks).
func stripped(s string) string { return ansi.Strip(s) }
