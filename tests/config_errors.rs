//! Bad input: each broken configuration yields its own error at the exact file,
//! line and column, exit code 2, and nothing written.

mod common;

use common::*;

/// Where an error must point: the `nth` (0-based) occurrence of `needle` in
/// `file`, and words its message must contain.
struct Expect {
    file: &'static str,
    needle: &'static str,
    nth: usize,
    message: &'static str,
}

struct Case {
    name: &'static str,
    edit: fn(&mut Vec<(&'static str, String)>),
    secrets: bool,
    expect: &'static [Expect],
}

fn set(files: &mut [(&'static str, String)], name: &str, f: impl Fn(&str) -> String) {
    let e = files.iter_mut().find(|(n, _)| *n == name).expect("file");
    e.1 = f(&e.1);
}

const SECRETS_TABLE: &str = "\n[secrets]\ntoken_file = \"secrets/k3s-token\"\nauthkey_file = \"secrets/tailscale-authkey\"\n";

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "syntax error",
            edit: |f| {
                set(f, "a.toml", |t| {
                    t.replace("hostname = \"a\"", "hostname = = \"a\"")
                })
            },
            secrets: true,
            expect: &[Expect {
                file: "a.toml",
                needle: "= \"a\"",
                nth: 0,
                message: "TOML syntax error",
            }],
        },
        Case {
            name: "unknown keys in two tables, both reported",
            edit: |f| {
                set(f, "a.toml", |t| {
                    format!("colour = \"red\"\n{t}\n[storage]\nsize_gib = 4\n")
                });
            },
            secrets: true,
            expect: &[
                Expect {
                    file: "a.toml",
                    needle: "colour",
                    nth: 0,
                    message: "unknown field `colour`",
                },
                Expect {
                    file: "a.toml",
                    needle: "size_gib",
                    nth: 0,
                    message: "unknown field `size_gib`",
                },
            ],
        },
        Case {
            name: "unknown keys in two files, both reported",
            edit: |f| {
                set(f, "a.toml", |t| format!("extra = 1\n{t}"));
                set(f, "cluster.toml", |t| {
                    t.replace("[k3s]", "[k3s]\nversoin = \"x\"")
                });
            },
            secrets: true,
            expect: &[
                Expect {
                    file: "cluster.toml",
                    needle: "versoin",
                    nth: 0,
                    message: "unknown field `versoin`",
                },
                Expect {
                    file: "a.toml",
                    needle: "extra",
                    nth: 0,
                    message: "unknown field `extra`",
                },
            ],
        },
        Case {
            name: "wrong type",
            edit: |f| set(f, "a.toml", |t| format!("{t}\n[storage]\nmount = 5\n")),
            secrets: true,
            expect: &[Expect {
                file: "a.toml",
                needle: "5\n",
                nth: 0,
                message: "invalid type",
            }],
        },
        Case {
            name: "two bootstraps",
            edit: |f| {
                set(f, "cluster.toml", |t| {
                    t.replace("name = \"b\"", "name = \"b\"\nbootstrap = true")
                })
            },
            secrets: true,
            expect: &[Expect {
                file: "cluster.toml",
                needle: "true",
                nth: 1,
                message: "second bootstrap",
            }],
        },
        Case {
            name: "no bootstrap",
            edit: |f| set(f, "cluster.toml", |t| t.replace("bootstrap = true", "")),
            secrets: true,
            expect: &[Expect {
                file: "cluster.toml",
                needle: "[[server]]",
                nth: 0,
                message: "no server is marked bootstrap",
            }],
        },
        Case {
            name: "duplicate hostname",
            edit: |f| {
                set(f, "b.toml", |t| {
                    t.replace("hostname = \"b\"", "hostname = \"a\"")
                })
            },
            secrets: true,
            expect: &[Expect {
                file: "b.toml",
                needle: "\"a\"",
                nth: 0,
                message: "hostname a is already used by",
            }],
        },
        Case {
            name: "invalid hostname",
            edit: |f| {
                set(f, "a.toml", |t| {
                    t.replace("hostname = \"a\"", "hostname = \"Raspi_1\"")
                })
            },
            secrets: true,
            expect: &[Expect {
                file: "a.toml",
                needle: "\"Raspi_1\"",
                nth: 0,
                message: "invalid hostname",
            }],
        },
        Case {
            name: "witness without taint",
            edit: |f| {
                set(f, "w.toml", |t| {
                    format!("{t}\n[k3s]\ntaints = [\"dedicated=x:NoSchedule\"]\n")
                })
            },
            secrets: true,
            expect: &[Expect {
                file: "w.toml",
                needle: "[\"dedicated",
                nth: 0,
                message: "witness must carry the taint",
            }],
        },
        Case {
            name: "missing secret file",
            edit: |f| set(f, "cluster.toml", |t| format!("{t}{SECRETS_TABLE}")),
            secrets: false,
            expect: &[Expect {
                file: "cluster.toml",
                needle: "\"secrets/k3s-token\"",
                nth: 0,
                message: "does not exist",
            }],
        },
        Case {
            name: "unknown profile",
            edit: |f| set(f, "b.toml", |t| t.replace("\"rpi4\"", "\"rpi9\"")),
            secrets: true,
            expect: &[Expect {
                file: "b.toml",
                needle: "\"rpi9\"",
                nth: 0,
                message: "unknown profile `rpi9`",
            }],
        },
        Case {
            name: "server that is no node",
            edit: |f| {
                set(f, "cluster.toml", |t| {
                    t.replace("name = \"b\"", "name = \"zz\"")
                })
            },
            secrets: true,
            expect: &[Expect {
                file: "cluster.toml",
                needle: "\"zz\"",
                nth: 0,
                message: "server zz is not the hostname of any node",
            }],
        },
        Case {
            name: "reserved label and bad taint, both reported",
            edit: |f| {
                set(f, "a.toml", |t| {
                    format!(
                        "{t}\n[k3s]\nlabels = [\"kubernetes.io/role=x\"]\ntaints = [\"a=b:Never\"]\n"
                    )
                })
            },
            secrets: true,
            expect: &[
                Expect {
                    file: "a.toml",
                    needle: "\"kubernetes.io/role=x\"",
                    nth: 0,
                    message: "labels are reserved",
                },
                Expect {
                    file: "a.toml",
                    needle: "\"a=b:Never\"",
                    nth: 0,
                    message: "effect `Never`",
                },
            ],
        },
        Case {
            name: "missing required key",
            edit: |f| set(f, "a.toml", |t| t.replace("profile = \"rpi4\"\n", "")),
            secrets: true,
            expect: &[Expect {
                file: "a.toml",
                needle: "cluster",
                nth: 0,
                message: "missing required key `profile`",
            }],
        },
        Case {
            name: "unknown initramfs policy",
            edit: |f| {
                set(f, "a.toml", |t| {
                    t.replace(
                        "packages = [\"systemd\"]",
                        "packages = [\"systemd\"]\ninitramfs_modules = \"all\"",
                    )
                })
            },
            secrets: true,
            expect: &[Expect {
                file: "a.toml",
                needle: "\"all\"",
                nth: 0,
                message: "unknown initramfs_modules \"all\"",
            }],
        },
        Case {
            name: "initramfs module name with a shell character",
            edit: |f| {
                set(f, "a.toml", |t| {
                    t.replace(
                        "packages = [\"systemd\"]",
                        "packages = [\"systemd\"]\ninitramfs_modules = [\"ext4\", \"x;reboot\"]",
                    )
                })
            },
            secrets: true,
            expect: &[Expect {
                file: "a.toml",
                needle: "[\"ext4\"",
                nth: 0,
                message: "module name \"x;reboot\"",
            }],
        },
        Case {
            name: "untagged servers",
            edit: |f| {
                set(f, "cluster.toml", |t| {
                    t.replace("tags = [\"tag:k3s\"]\n", "")
                })
            },
            secrets: true,
            expect: &[Expect {
                file: "cluster.toml",
                needle: "[[server]]",
                nth: 0,
                message: "node keys expire",
            }],
        },
        Case {
            name: "a root partition that would run into the data partition",
            edit: |f| {
                let profile = std::fs::read_to_string(repo().join("profiles/rpi4.toml"))
                    .expect("profile")
                    .replace("root_size_mib = 8192", "root_size_mib = 9000");
                f.push(("p.toml", profile));
                set(f, "a.toml", |t| {
                    t.replace("profile = \"rpi4\"", "profile = \"p.toml\"")
                });
            },
            secrets: true,
            expect: &[Expect {
                file: "p.toml",
                needle: "8712",
                nth: 0,
                message: "past the data partition at 8712 MiB",
            }],
        },
        Case {
            name: "a Pi 5 with a debian base",
            edit: |f| {
                set(f, "a.toml", |t| {
                    t.replace("profile = \"rpi4\"", "profile = \"rpi5\"")
                })
            },
            secrets: true,
            expect: &[Expect {
                file: "a.toml",
                needle: "[base]",
                nth: 0,
                message: "cannot boot a debian base",
            }],
        },
    ]
}

#[test]
fn every_bad_config_gets_its_error_at_its_place() {
    let mut failures = Vec::new();
    for case in cases() {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut files = small_cluster();
        (case.edit)(&mut files);
        write_files(tmp.path(), &files);
        if case.secrets {
            write_secrets(tmp.path());
        }
        let o = haimg()
            .args(["render", "a.toml", "--out", "out"])
            .current_dir(tmp.path())
            .output()
            .expect("run");
        let err = stderr(&o);
        if o.status.code() != Some(2) {
            failures.push(format!(
                "{}: exit {:?}, want 2\n{err}",
                case.name,
                o.status.code()
            ));
            continue;
        }
        if tmp.path().join("out").exists() {
            failures.push(format!("{}: output written despite the error", case.name));
        }
        for e in case.expect {
            let text = &files.iter().find(|(n, _)| *n == e.file).expect("file").1;
            let offset = text
                .match_indices(e.needle)
                .nth(e.nth)
                .unwrap_or_else(|| panic!("{}: needle {:?} not in {}", case.name, e.needle, e.file))
                .0;
            let (line, col) = line_col(text, offset);
            let loc = format!("{}:{line}:{col}:", e.file);
            let found = err
                .lines()
                .any(|l| l.contains(&loc) && l.contains(e.message));
            if !found {
                failures.push(format!(
                    "{}: want `{loc} …{}…` in:\n{err}",
                    case.name, e.message
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}
