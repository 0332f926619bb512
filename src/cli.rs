//! The command line: parse arguments, run one command, map errors to exit
//! codes (2: the configuration is wrong; 1: anything else went wrong).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::diag::{self, ConfigError, Diags};
use crate::{build, config, plan, render, secrets};

#[derive(Parser)]
#[command(
    name = "haimg",
    version,
    about = "Build flashable disk images for the nodes of an HA K3s cluster"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the whole cluster; show topology, quorum, failure tolerance, risks
    Plan {
        /// cluster.toml or any node file of the cluster
        file: PathBuf,
        /// Print the plan as JSON
        #[arg(long)]
        json: bool,
    },
    /// Build the disk image of a node (node file) or of every node (cluster file)
    Build {
        /// A node file, or the cluster file for every node
        file: PathBuf,
        /// Output folder for NODE.img and NODE.img.sha256
        #[arg(long, short, default_value = "out")]
        out: PathBuf,
        /// Folder with k3s, tailscale, tailscaled (and images/) for first boot
        #[arg(long)]
        payload: Option<PathBuf>,
        /// Cache folder (default $XDG_CACHE_HOME/haimg)
        #[arg(long, env = "HAIMG_CACHE")]
        cache: Option<PathBuf>,
        /// No progress bars or notes
        #[arg(long, short)]
        quiet: bool,
        /// Never open a network connection (everything must be cached)
        #[arg(long)]
        offline: bool,
        /// Accept downloads that have no checksum to check
        #[arg(long)]
        insecure: bool,
    },
    /// Download and verify everything the nodes need, so builds can run offline
    Fetch {
        /// A node file, or the cluster file for every node
        file: PathBuf,
        /// Cache folder (default $XDG_CACHE_HOME/haimg)
        #[arg(long, env = "HAIMG_CACHE")]
        cache: Option<PathBuf>,
        /// Only check that everything is cached; never connect
        #[arg(long)]
        offline: bool,
        /// Accept downloads that have no checksum to check
        #[arg(long)]
        insecure: bool,
        /// No progress bars
        #[arg(long, short)]
        quiet: bool,
    },
    /// Write a node's first-boot files to a folder for review
    Render {
        /// A node file (one node) or the cluster file (every node, one folder each)
        file: PathBuf,
        /// Output folder (must not exist, or be empty, unless --force)
        #[arg(long, short)]
        out: PathBuf,
        /// Write the real secrets instead of placeholders
        #[arg(long)]
        with_secrets: bool,
        /// Replace an existing output folder
        #[arg(long)]
        force: bool,
    },
    /// Manage the cluster's secrets
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Create the K3s token and an auth-key placeholder (0600); never overwrites
    Init {
        /// The cluster file
        cluster: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(ce) = e.downcast_ref::<ConfigError>() {
                eprintln!("{ce}");
                return ExitCode::from(2);
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Plan { file, json } => cmd_plan(&file, json),
        Command::Render {
            file,
            out,
            with_secrets,
            force,
        } => cmd_render(&file, &out, with_secrets, force),
        Command::Secrets {
            command: SecretsCommand::Init { cluster },
        } => cmd_secrets_init(&cluster),
        Command::Build {
            file,
            out,
            payload,
            cache,
            quiet,
            offline,
            insecure,
        } => cmd_build(
            &file,
            build::Options {
                out_dir: out,
                cache: cache.unwrap_or_else(crate::source::cache_dir),
                payload,
                quiet,
                offline,
                insecure,
            },
        ),
        Command::Fetch {
            file,
            cache,
            offline,
            insecure,
            quiet,
        } => cmd_fetch(
            &file,
            cache.unwrap_or_else(crate::source::cache_dir),
            offline,
            insecure,
            quiet,
        ),
    }
}

fn cmd_fetch(
    file: &Path,
    cache: PathBuf,
    offline: bool,
    insecure: bool,
    quiet: bool,
) -> Result<()> {
    let (plan, loaded, _secrets, _warnings) = load_plan(file, false)?;
    let fetcher = crate::source::fetch::Fetcher::new(cache, offline, insecure, quiet);
    let nodes: Vec<&plan::NodePlan> = match loaded.selected {
        Some(i) => vec![&plan.nodes[i]],
        None => plan.nodes.iter().collect(),
    };
    for node in nodes {
        let base = match node.base.kind {
            crate::config::BaseKind::Image => {
                let a = crate::source::base_artifact(node).context("the image base has no url")?;
                fetcher.get(&a)?
            }
            _ => crate::source::base_tarball(node, &fetcher)?,
        };
        println!("{}: base {}", node.hostname, base.display());
        for (name, path) in crate::source::payload(&plan, node, &fetcher)? {
            println!("{}: {name} {}", node.hostname, path.display());
        }
    }
    Ok(())
}

fn cmd_build(file: &Path, opts: build::Options) -> Result<()> {
    let quiet = opts.quiet;
    let (plan, loaded, secrets, warnings) = load_plan(file, true)?;
    if !warnings.items.is_empty() && !quiet {
        eprint!("{}", diag::render(&loaded.sources, &warnings.items));
    }
    let values = render::SecretValues {
        token: secrets.token.as_ref(),
        authkey: secrets.authkey.as_ref(),
    };
    let nodes: Vec<&plan::NodePlan> = match loaded.selected {
        Some(i) => vec![&plan.nodes[i]],
        None => plan.nodes.iter().collect(),
    };
    for node in nodes {
        let built = build::build(&plan, node, &values, &opts)
            .with_context(|| format!("building {}", node.hostname))?;
        println!("{}  {}", built.sha256, built.image.display());
    }
    Ok(())
}

/// Load and plan, then read secrets; every finding goes into one report.
fn load_plan(
    file: &Path,
    strict_secrets: bool,
) -> Result<(
    plan::ClusterPlan,
    config::Loaded,
    secrets::ClusterSecrets,
    Diags,
)> {
    let loaded = config::load(file)?;
    let (plan, mut loaded, mut diags) = plan::build(loaded)?;
    let secrets = secrets::for_cluster(&plan, &loaded, strict_secrets, &mut diags);
    let mut all = std::mem::take(&mut loaded.warnings);
    all.extend(diags);
    if all.has_errors() {
        return Err(ConfigError {
            sources: std::mem::take(&mut loaded.sources),
            diags: all.items,
        }
        .into());
    }
    Ok((plan, loaded, secrets, all))
}

fn cmd_plan(file: &Path, json: bool) -> Result<()> {
    let (plan, loaded, _secrets, warnings) = load_plan(file, false)?;
    let texts: Vec<String> = warnings
        .items
        .iter()
        .map(|d| match d.file {
            Some(f) => format!("{}: {}", loaded.sources.path(f).display(), d.message),
            None => d.message.clone(),
        })
        .collect();
    let report = plan::report::report(&plan, texts);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

fn cmd_render(file: &Path, out: &Path, with_secrets: bool, force: bool) -> Result<()> {
    let (plan, loaded, secrets, warnings) = load_plan(file, true)?;
    if !warnings.items.is_empty() {
        eprint!("{}", diag::render(&loaded.sources, &warnings.items));
    }
    let values = render::SecretValues {
        token: secrets.token.as_ref().filter(|_| with_secrets),
        authkey: secrets.authkey.as_ref().filter(|_| with_secrets),
    };
    let nodes: Vec<&plan::NodePlan> = match loaded.selected {
        Some(i) => vec![&plan.nodes[i]],
        None => plan.nodes.iter().collect(),
    };

    prepare_out_dir(out, force)?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".haimg-render-")
        .tempdir_in(parent)
        .with_context(|| format!("creating a temporary folder in {}", parent.display()))?;
    for node in &nodes {
        let r = render::render(&plan, node, &values);
        let dir = if loaded.selected.is_some() {
            tmp.path().to_path_buf()
        } else {
            tmp.path().join(&node.hostname)
        };
        render::write_tree(&r, &dir).with_context(|| format!("writing {}", node.hostname))?;
    }
    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("removing {}", out.display()))?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, out)
        .with_context(|| format!("moving the result to {}", out.display()))?;
    let names: Vec<&str> = nodes.iter().map(|n| n.hostname.as_str()).collect();
    eprintln!(
        "rendered {} into {}{}",
        names.join(", "),
        out.display(),
        if with_secrets {
            " (with secrets: keep it private)"
        } else {
            " (secrets redacted)"
        }
    );
    Ok(())
}

fn prepare_out_dir(out: &Path, force: bool) -> Result<()> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                bail!(
                    "{} exists and is not empty; use --force to replace it",
                    out.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("reading {}", out.display())),
    }
}

fn cmd_secrets_init(cluster_file: &Path) -> Result<()> {
    let loaded = config::load(cluster_file)?;
    let dir = loaded.cluster.dir().to_path_buf();
    let cfg = &loaded.cluster.value.secrets;
    let token_path = dir.join(
        cfg.token_file
            .as_ref()
            .map_or("secrets/k3s-token", |s| s.get_ref()),
    );
    let authkey_path = dir.join(
        cfg.authkey_file
            .as_ref()
            .map_or("secrets/tailscale-authkey", |s| s.get_ref()),
    );

    let token = secrets::new_token().context("reading the OS random number generator")?;
    let outcomes = [
        (&token_path, format!("{}\n", token.expose()), "K3s token"),
        (
            &authkey_path,
            secrets::AUTHKEY_PLACEHOLDER.to_string(),
            "Tailscale auth-key placeholder",
        ),
    ];
    for (path, contents, what) in outcomes {
        match secrets::create_secret_file(path, &contents)
            .with_context(|| format!("creating {}", path.display()))?
        {
            secrets::InitOutcome::Created => {
                eprintln!("created {} ({what}, mode 0600)", path.display())
            }
            secrets::InitOutcome::Kept => eprintln!(
                "kept {}: it exists and is never overwritten",
                path.display()
            ),
        }
    }
    eprintln!(
        "next: put a Tailscale auth key into {} (see the comments in it)",
        authkey_path.display()
    );
    Ok(())
}
