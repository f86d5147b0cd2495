//! What a key press or a paste does to the UI's state. Plain state changes happen here;
//! what needs the outside world (start a run, a cluster, a worker) comes back as an
//! [`Action`] for the event loop to carry out. No terminal is needed to test it.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::model::{App, CHUNK_CHOICES, Placement};

/// What the event loop must do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave the UI (`q`, Ctrl-C).
    Quit,
    /// Run the expression (`r`).
    Run,
    /// Stop the run in progress (`x`).
    Cancel,
    /// Switch between threads and a local cluster (`s`).
    SwitchScheduler,
    /// Restart the local cluster with the new threads per worker (`t`).
    RestartCluster,
    /// Move to the next memory limit (`m`).
    NextMemoryLimit,
    /// Add a worker or a thread (`+`).
    AddWorker,
    /// Kill the newest worker, or drop a thread (`-`, `k`).
    RemoveWorker,
}

impl App {
    /// Pasted text goes into the editor (bracketed paste: one event, not many keys).
    pub fn paste(&mut self, pasted: &str) {
        if let Some(text) = &mut self.editing {
            let room = tessera_expr::MAX_SOURCE_BYTES.saturating_sub(text.len());
            text.extend(pasted.chars().filter(|c| !c.is_control()).take(room));
        }
        self.dirty = true;
    }

    /// Applies a key press.
    pub fn key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.kind != KeyEventKind::Press {
            return None;
        }
        self.dirty = true;
        if let Some(text) = &mut self.editing {
            match key.code {
                KeyCode::Enter => {
                    self.expr = std::mem::take(text);
                    self.editing = None;
                }
                // Esc drops the edit; only `q` and Ctrl-C leave the UI.
                KeyCode::Esc => self.editing = None,
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(c) if text.len() < tessera_expr::MAX_SOURCE_BYTES => text.push(c),
                _ => {}
            }
            return None;
        }
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return Some(Action::Quit);
        }
        let idle = !self.running();
        match key.code {
            KeyCode::Char('q') => Some(Action::Quit),
            // Cancels the run in progress and what is left of a sweep.
            KeyCode::Char('x') => {
                self.sweep.clear();
                Some(Action::Cancel)
            }
            KeyCode::Char('r') if idle => Some(Action::Run),
            KeyCode::Char('w') if idle => {
                self.sweep = (1..CHUNK_CHOICES.len()).collect();
                None
            }
            KeyCode::Char('e') if idle => {
                self.editing = Some(self.expr.clone());
                None
            }
            KeyCode::Char('c') if idle => {
                self.chunk_choice = (self.chunk_choice + 1) % CHUNK_CHOICES.len();
                None
            }
            KeyCode::Char('s') if idle && !matches!(self.place, Placement::Cluster(_)) => Some(Action::SwitchScheduler),
            KeyCode::Char('t') if idle => match &mut self.place {
                Placement::LocalCluster { threads_per_worker: t, .. } => {
                    *t = if *t >= 4 { 1 } else { *t * 2 };
                    Some(Action::RestartCluster)
                }
                _ => None,
            },
            KeyCode::Char('m') if idle => Some(Action::NextMemoryLimit),
            KeyCode::Char('+') => Some(Action::AddWorker),
            KeyCode::Char('-') | KeyCode::Char('k') => Some(Action::RemoveWorker),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(app: &mut App, code: KeyCode) -> Option<Action> {
        app.key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn app() -> App {
        App::new("ones(3).sum()", Placement::LocalCluster { workers: 2, threads_per_worker: 1 }, "/tmp/log")
    }

    #[test]
    fn the_editor_takes_keys_and_pastes_until_enter_or_esc() {
        let mut app = app();
        assert_eq!(press(&mut app, KeyCode::Char('e')), None);
        for c in " + 1".chars() {
            press(&mut app, KeyCode::Char(c));
        }
        app.paste("\n* 2");
        assert_eq!(press(&mut app, KeyCode::Char('q')), None, "q is text in the editor");
        press(&mut app, KeyCode::Backspace);
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.expr, "ones(3).sum() + 1* 2");
        press(&mut app, KeyCode::Char('e'));
        press(&mut app, KeyCode::Char('!'));
        assert_eq!(press(&mut app, KeyCode::Esc), None);
        assert_eq!(app.expr, "ones(3).sum() + 1* 2", "Esc drops the edit");
        assert_eq!(press(&mut app, KeyCode::Esc), None, "Esc outside the editor does not quit");
    }

    #[test]
    fn keys_become_actions() {
        let mut app = app();
        assert_eq!(press(&mut app, KeyCode::Char('r')), Some(Action::Run));
        assert_eq!(press(&mut app, KeyCode::Char('t')), Some(Action::RestartCluster));
        assert_eq!(app.place, Placement::LocalCluster { workers: 2, threads_per_worker: 2 });
        assert_eq!(press(&mut app, KeyCode::Char('+')), Some(Action::AddWorker));
        assert_eq!(press(&mut app, KeyCode::Char('k')), Some(Action::RemoveWorker));
        press(&mut app, KeyCode::Char('w'));
        assert_eq!(app.sweep.len(), CHUNK_CHOICES.len() - 1);
        assert_eq!(press(&mut app, KeyCode::Char('x')), Some(Action::Cancel));
        assert!(app.sweep.is_empty(), "x stops the rest of a sweep");
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(app.key(ctrl_c), Some(Action::Quit));
        assert_eq!(press(&mut app, KeyCode::Char('q')), Some(Action::Quit));
    }
}
