//! The library's folders are its layers (docs/architecture.md): a module imports only from its
//! own layer or the ones it builds on, never back. `scripts/module-cycles` finds loops; this
//! finds an import in the wrong direction before it can become one. Unit tests (a file's
//! trailing `#[cfg(test)] mod tests`) may reach anywhere; so may `app`, which composes it all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What each layer may name with `crate::…`, besides itself. `outcome` (what became of an event)
/// is shared by the ports and both roles; `lock` is the crate's one helper.
fn allowed(layer: &str) -> Option<&'static [&'static str]> {
    Some(match layer {
        "domain" => &["lock"],
        // The ports and `outcome` name each other; the roles and the adapters build on both,
        // never on one another.
        "ports" | "outcome" | "intake" | "turn" | "adapters" => {
            &["domain", "ports", "outcome", "lock"]
        }
        "app" | "testing" | "bin" | "lib" => return None,
        other => panic!("src/{other}: a layer docs/architecture.md and this test do not know"),
    })
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its unit tests and comments.
fn product_code(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod tests"))
        {
            break;
        }
        if !line.trim_start().starts_with("//") {
            code.push_str(line);
            code.push('\n');
        }
    }
    code
}

/// Every `crate::name` in `code`: the top-level module it names.
fn crate_paths(code: &str) -> Vec<&str> {
    code.match_indices("crate::")
        .filter(|(at, _)| {
            // `crate::` itself, not the tail of another path (`flexlex_crate::`).
            !code[..*at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .map(|(at, _)| {
            let rest = &code[at + "crate::".len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[test]
fn no_module_imports_a_layer_built_on_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a path under src");
        let layer = first.strip_suffix(".rs").unwrap_or(first);
        let text = std::fs::read_to_string(file).expect("a readable source file");
        let code = product_code(&text);
        let named_paths = crate_paths(&code);
        *seen.entry(layer.to_owned()).or_default() += named_paths.len();
        let Some(may) = allowed(layer) else {
            continue;
        };
        for named in named_paths {
            if named != layer && !may.contains(&named) {
                wrong.push(format!("{}: crate::{named}", relative.display()));
            }
        }
    }
    // The walk read every layer and found their imports, so an empty tree cannot pass.
    for layer in ["domain", "ports", "intake", "turn", "adapters", "app"] {
        assert!(
            seen.get(layer).is_some_and(|n| *n > 0),
            "no crate:: path read in src/{layer}: {seen:?}"
        );
    }
    assert_eq!(wrong, Vec::<String>::new(), "imports against the layers");
}

#[test]
fn the_reader_sees_imports_and_skips_tests_and_comments() {
    let text = "use crate::domain::ids::Sid;\n\
                //! see crate::app::config\n\
                fn f() { crate::turn::run(); }\n\
                use flexlex_crate::x;\n\
                #[cfg(test)]\n\
                mod tests {\n    use crate::app::bridge::Bridge;\n}\n";
    assert_eq!(crate_paths(&product_code(text)), ["domain", "turn"]);
}
