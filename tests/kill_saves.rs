//! Saves killed with SIGKILL at random moments never leave a damaged file: the checkpoint
//! and the safetensors writer each run in a child process that saves two different
//! networks in turn, forever, and is killed after a random delay; the file must then
//! load, and hold one of the two. A plain test harness cannot kill itself, so this
//! test is its own `main` (`harness = false`) and re-runs its own binary as the child.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use network::prelude::*;
use network::weights::{load_safetensors, save_safetensors};

network! {
    /// 66,112 parameters: a save takes long enough for kills to land inside it.
    #[derive(Clone, Debug, PartialEq)]
    struct Net { a: Dense<64, 512>, Relu, b: Dense<512, 64> }
}

type Run = Trainer<f32, Net<f32>, Adam<f32, Net<f32>>, Constant, SoftmaxCrossEntropy, 64, 64>;

const CHILD: &str = "NETWORK_KILL_SAVES_CHILD";

/// The two networks the child alternates between.
fn nets() -> [Box<Net<f32>>; 2] {
    [1, 2].map(|seed| network::boxed::random(&mut Rng::seed_from_u64(seed)))
}

fn trainer(net: Box<Net<f32>>) -> Run {
    let config = TrainConfig {
        quiet: true,
        ..TrainConfig::default()
    };
    let adam = network::boxed::zeroed_with(|a: &mut Adam<f32, Net<f32>>| {
        a.config = AdamConfig::adam(1e-3)
    });
    Trainer::from_boxed(net, adam, Constant(1e-3), SoftmaxCrossEntropy, config)
}

fn save(kind: &str, net: &Net<f32>, path: &Path) {
    match kind {
        "checkpoint" => trainer(Box::new(net.clone()))
            .save_checkpoint(path)
            .unwrap(),
        _ => save_safetensors(net, path).unwrap(),
    }
}

/// Loads the file and says which of the two networks it holds.
fn which(kind: &str, path: &Path, nets: &[Box<Net<f32>>; 2]) -> Result<usize, String> {
    let mut loaded = network::boxed::zeroed::<Net<f32>>();
    match kind {
        "checkpoint" => {
            let mut t = trainer(network::boxed::zeroed());
            t.load_checkpoint(path).map_err(|e| e.to_string())?;
            (*loaded).clone_from(t.net());
        }
        _ => load_safetensors(&mut *loaded, path).map_err(|e| e.to_string())?,
    }
    nets.iter()
        .position(|n| **n == *loaded)
        .ok_or_else(|| "the file holds neither network".to_string())
}

/// Saves forever, saying `saved` after each save.
fn child(kind: &str, path: &Path) -> ! {
    use std::io::Write;
    let nets = nets();
    let mut out = std::io::stdout();
    let mut i = 0;
    loop {
        save(kind, &nets[i % 2], path);
        writeln!(out, "saved").unwrap();
        out.flush().unwrap();
        i += 1;
    }
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        let (kind, path) = spec.split_once(':').expect("kind:path");
        child(kind, Path::new(path));
    }
    let me = std::env::current_exe().unwrap();
    let dir: PathBuf =
        std::env::temp_dir().join(format!("network-kill-saves-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let nets = nets();
    let mut rng = Rng::seed_from_u64(7);
    for kind in ["checkpoint", "safetensors"] {
        let path = dir.join(format!("model.{kind}"));
        save(kind, &nets[1], &path);
        let (trials, mut changed) = (60, 0);
        let mut last = 1;
        // How long one save takes in the child, measured in the first trial.
        let mut save_time = None;
        for trial in 0..trials {
            let mut process = Command::new(&me)
                .env(CHILD, format!("{kind}:{}", path.display()))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
            // Once the child has saved, it is inside its loop of saves: kill it at a
            // random moment within the next three saves.
            lines.next().unwrap().unwrap();
            let save_time = *save_time.get_or_insert_with(|| {
                let start = Instant::now();
                lines.next().unwrap().unwrap();
                start.elapsed()
            });
            let window = 3 * save_time.as_micros() as usize;
            std::thread::sleep(Duration::from_micros(rng.below(window) as u64));
            process.kill().unwrap(); // SIGKILL on Unix
            process.wait().unwrap();
            match which(kind, &path, &nets) {
                Ok(held) => {
                    changed += usize::from(held != last);
                    last = held;
                }
                Err(error) => panic!("{kind}: trial {trial}: a killed save left {error}"),
            }
        }
        // The kills landed between and inside saves: the file changed in many trials.
        assert!(
            changed >= 5,
            "{kind}: the file changed in only {changed} trials"
        );
        // The next save removes the temporaries the killed children left.
        save(kind, &nets[0], &path);
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{kind}: temporaries left: {left:?}");
        println!("{kind}: {trials} kills, the file changed {changed} times, always whole");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
