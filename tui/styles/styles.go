// Package styles holds the wizard's lipgloss styles. Every colour is an
// AdaptiveColor, readable on light and dark terminals alike.
package styles

import "github.com/charmbracelet/lipgloss"

var (
	accent  = lipgloss.AdaptiveColor{Light: "#5A3FC0", Dark: "#B9A6FF"}
	subtle  = lipgloss.AdaptiveColor{Light: "#5F5F5F", Dark: "#9E9E9E"}
	good    = lipgloss.AdaptiveColor{Light: "#1B7F3B", Dark: "#5FD787"}
	warn    = lipgloss.AdaptiveColor{Light: "#8A5A00", Dark: "#FFD75F"}
	bad     = lipgloss.AdaptiveColor{Light: "#B00020", Dark: "#FF6B6B"}
	secretC = lipgloss.AdaptiveColor{Light: "#00507A", Dark: "#87D7FF"}
)

var (
	// Title is the step's heading.
	Title = lipgloss.NewStyle().Bold(true).Foreground(accent)
	// Progress is the "step n of m" line.
	Progress = lipgloss.NewStyle().Foreground(subtle)
	// Muted is secondary text.
	Muted = lipgloss.NewStyle().Foreground(subtle)
	// Selected is the highlighted choice.
	Selected = lipgloss.NewStyle().Bold(true).Foreground(accent)
	// Good marks success.
	Good = lipgloss.NewStyle().Foreground(good)
	// Warn marks pending or attention-needed states.
	Warn = lipgloss.NewStyle().Foreground(warn)
	// Bad marks errors.
	Bad = lipgloss.NewStyle().Bold(true).Foreground(bad)
	// Value is a value to copy (Tenant URL, token, TXT record).
	Value = lipgloss.NewStyle().Bold(true).Foreground(secretC)
	// Spinner colours the spinner.
	Spinner = lipgloss.NewStyle().Foreground(accent)
	// Label is a field label.
	Label = lipgloss.NewStyle().Bold(true)
)
