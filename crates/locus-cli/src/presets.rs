//! `--preset NAME`: standard protocols from the literature as built-in run files (the
//! format of `--config`), so that a run can be compared with a reference implementation
//! under the same protocol. A preset sets flags; `--config` and the command line override
//! them. locus's own defaults stay its best known configuration; a preset is what a paper
//! or a reference implementation ran.

use clap::ValueEnum;

/// The presets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// The FA/DFA MNIST protocol of Nøkland (2016), "Direct Feedback Alignment Provides
    /// Learning in Deep Neural Networks", as reimplemented by BioTorch (Sanfiz & Akrout
    /// 2021): 784-1000-1000-10 tanh MLP, weights and feedback matrices from N(0, 1/fan-in),
    /// SGD with momentum 0.9, learning rate 0.01 for every rule, batch 128, 20 epochs, no
    /// schedule, inputs in [0, 1] standardised with the training set's statistics. Without
    /// the paper's dropout, so its 1.45% (DFA, dropout) is another protocol.
    Nokland2016,
}

impl Preset {
    /// The preset's flags for a run of `algo`, as a run file.
    pub fn run_file(self, algo: &str) -> String {
        match self {
            Preset::Nokland2016 => {
                let mut text = r#"
dataset = "mnist"
model = "mlp"
hidden = [1000, 1000]
activation = "tanh"
init = "lecun"
optimizer = "sgd"
lr = 0.01
momentum = 0.9
batch-size = 128
epochs = 20
lr-schedule = "constant"
batch-norm = false
standardize = true
"#
                .to_string();
                // DFA's B is the one feedback matrix not drawn like the weights.
                if algo == "dfa" {
                    text.push_str("dfa-feedback-init = \"lecun-normal\"\n");
                }
                text
            }
        }
    }

    /// The name `--preset` takes.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}
