//! Shell-style glob matching (`*`, `?`) of pane labels: a leaf both the rules (a rule's
//! `pane = "db-*"`) and tmux operations (`close`, `find` by label) use, so neither has to
//! reach into the other for it.

/// Whether `text` matches `glob` (`*` any run of characters, `?` exactly one).
///
/// Iterative with a single backtrack point (the last `*`), so it runs in
/// O(glob × text) at worst, without allocating.
pub fn glob_match(glob: &str, text: &str) -> bool {
    let (glob, text) = (glob.as_bytes(), text.as_bytes());
    let (mut g, mut t) = (0, 0);
    // After a `*`: where in the glob to resume, and where in the text it started.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match glob.get(g) {
            Some(b'*') => {
                star = Some((g + 1, t));
                g += 1;
                continue;
            }
            Some(b'?') => {
                g += 1;
                t += utf8_len(text[t]);
                continue;
            }
            // Byte equality is character equality here: both sides are UTF-8
            // and `t` only ever stops on character boundaries.
            Some(&b) if b == text[t] => {
                g += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((resume, start)) => {
                // Let the last `*` swallow one more character and retry.
                let next = start + utf8_len(text[start]);
                star = Some((resume, next));
                g = resume;
                t = next;
            }
            None => return false,
        }
    }
    glob[g..].iter().all(|&b| b == b'*')
}

/// Length of the UTF-8 character starting with `lead`.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}
