package tui

import "github.com/charmbracelet/bubbles/key"

// keys are the wizard's key bindings; steps pick the ones they use so the
// help line shows only what works on the screen.
var keys = struct {
	Enter, Up, Down, Toggle, Back, Retry, RetryTyping, Quit, Interrupt key.Binding
	Check, Add, NewToken, Select, Cancel, Copy, Print, Secret          key.Binding
}{
	Enter:  key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "continue")),
	Up:     key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
	Down:   key.NewBinding(key.WithKeys("down", "j", "tab"), key.WithHelp("↓/j", "down")),
	Toggle: key.NewBinding(key.WithKeys(" ", "x"), key.WithHelp("space", "toggle")),
	Back:   key.NewBinding(key.WithKeys("esc", "shift+tab"), key.WithHelp("esc", "back")),
	Retry:  key.NewBinding(key.WithKeys("r", "ctrl+r"), key.WithHelp("r", "retry")),
	// RetryTyping is the retry key while a text field has the focus: a
	// letter there is typed into the field.
	RetryTyping: key.NewBinding(key.WithKeys("ctrl+r"), key.WithHelp("ctrl+r", "retry")),
	Quit:        key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
	Interrupt:   key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
	Check:       key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "check DNS now")),
	Add:         key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add domain")),
	NewToken:    key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "new token")),
	Select:      key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "select/unselect")),
	Cancel:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
	Copy:        key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "copy")),
	Print:       key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "print whole")),
	Secret:      key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "print client secret")),
}
