//! rotate-key: where a signing-key rotation stands, and the exact next commands. Pure.
//!
//! Owns the phase model of OpenShift's documented procedure (cloud-credential-operator
//! `docs/rotate-oidc-key.md`) as stsform runs it:
//!
//! 0. one key served: no rotation in progress (or the last one finished);
//! 1. **add**: the cluster makes a new key (`oc … delete secrets/next-bound-service-account-signing-key`),
//!    its public half is read from that secret, and keys.json serves the current and the
//!    new key (`--public-key-file current --public-key-file new`, one apply);
//! 2. **retire**, after the kube-apiserver rollout and a reboot of every node: keys.json
//!    serves the new key only (one apply with `--allow-issuer-change`).
//!
//! The stage is read from what keys.json serves live (the truth STS sees), the kids the
//! state recorded (to say when keys.json was changed outside stsform) and the keys the
//! settings ask for. The newest key is the last one served: an apply keeps the keys
//! keys.json serves in their places and adds new ones after them, whatever the order of the
//! settings (`SigningKey::jwks_keeping`). When keys.json was changed outside stsform (the
//! documented `jq` merge), the newest is a served key the state did not record, wherever
//! the merge put it.
//! A next step is never skipped: settings that would jump a phase (replace a key without
//! overlap, retire the newest key, start a second rotation before the first is retired)
//! get the stage they skip, with its commands. Must not do I/O or print; `commands`
//! gathers the inputs and renders the result.

use std::path::PathBuf;

/// What the bucket's `keys.json` holds now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served {
    /// No keys.json (nothing applied yet, or deleted outside stsform).
    Missing,
    /// keys.json is not a JWKS: why.
    Invalid(String),
    /// The kids it serves, in document order.
    Kids(Vec<String>),
}

/// A key the settings ask keys.json to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Configured {
    /// Its kid; `None` for a key pair the next apply generates.
    pub kid: Option<String>,
    /// Its public key file (a `--public-key-file`, or the output dir's key pair).
    pub path: PathBuf,
}

/// Everything the stage is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Situation {
    /// What keys.json serves live.
    pub served: Served,
    /// The kids the state recorded for keys.json (what stsform last wrote); `None` when
    /// the state holds no keys.json.
    pub recorded: Option<Vec<String>>,
    /// What the settings ask keys.json to serve, in order.
    pub configured: Vec<Configured>,
    /// Public key files found locally, by kid, beyond the configured ones (the output
    /// dir's key pair): used to name a served key's file in a printed command.
    pub known: Vec<(String, PathBuf)>,
    /// The kid of the key pair stsform manages in the output dir, when the state holds
    /// one: retiring that key deletes the pair (and the installer's copy), which phase 2
    /// says beforehand.
    pub key_pair: Option<String>,
    /// The output dir's private key file (named when phase 2 deletes it).
    pub key_pair_file: PathBuf,
}

/// What printed commands are made of, besides the keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandContext {
    /// The settings flags as the user gave them, without `--public-key-file` (stsform
    /// commands add their own list, which overrides `public_key_files` in stsform.toml).
    pub settings: Vec<String>,
    /// Those of them `verify` takes.
    pub verify_settings: Vec<String>,
    /// Where the step that reads the cluster's new public key saves it (a file that does
    /// not exist yet, so no served key's file is overwritten).
    pub new_key_file: PathBuf,
}

/// Where the rotation stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// keys.json is not served: nothing to rotate yet.
    NotApplied,
    /// One key served, as the settings ask: no rotation in progress.
    Idle,
    /// Phase 1 is next: the settings add these kids to the served ones.
    AddPending {
        /// The kids the settings add.
        adding: Vec<String>,
    },
    /// Phase 1 is applied: several keys served, as the settings ask. Phase 2 comes after
    /// the rollout and the node reboots.
    Overlap {
        /// The kids phase 2 retires (every served one but the newest).
        retiring: Vec<String>,
    },
    /// Phase 2 is next: the settings keep the newest key and drop these.
    RetirePending {
        /// The kids the settings drop.
        retiring: Vec<String>,
    },
    /// The settings ask for something that is not the next step; the steps shown are
    /// those of the next one.
    Blocked {
        /// Why, in a sentence or two.
        why: String,
    },
}

/// One word of a printed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Word {
    /// Printed as is: shell syntax (`|`, `>`), pre-quoted arguments, placeholders (`<…>`).
    Raw(String),
    /// A value: quoted for the shell when printed.
    Arg(String),
}

/// One command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line(pub Vec<Word>);

impl Line {
    fn raw(text: &str) -> Line {
        Line(text.split(' ').map(|w| Word::Raw(w.to_string())).collect())
    }

    /// The line for a shell, `quote` quoting each value.
    pub fn render(&self, quote: &dyn Fn(&str) -> String) -> String {
        self.0
            .iter()
            .map(|w| match w {
                Word::Raw(text) => text.clone(),
                Word::Arg(value) => quote(value),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One step: what it does, and the commands that do it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// What the step does and why, for people.
    pub title: String,
    /// The commands, in order.
    pub lines: Vec<Line>,
}

/// Where the rotation stands and what to run next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The kids keys.json serves, in order (empty when it is not served or not a JWKS).
    pub served: Vec<String>,
    /// The newest served kid (see [`newest`]).
    pub newest: Option<String>,
    /// The public key file of each served kid found locally.
    pub files: Vec<(String, PathBuf)>,
    /// The stage.
    pub stage: Stage,
    /// What else a reader should know (changes outside stsform, key order).
    pub notes: Vec<String>,
    /// The next steps, in order.
    pub steps: Vec<Step>,
    /// What comes after the steps, in a sentence.
    pub then: String,
}

impl Status {
    /// The kid's public key file, where one is known.
    pub fn path_of<'a>(situation: &'a Situation, kid: &str) -> Option<&'a PathBuf> {
        situation
            .configured
            .iter()
            .find(|c| c.kid.as_deref() == Some(kid))
            .map(|c| &c.path)
            .or_else(|| {
                situation
                    .known
                    .iter()
                    .find(|(k, _)| k == kid)
                    .map(|(_, p)| p)
            })
    }
}

/// The secret the kube-apiserver operator keeps the next signing key in.
pub const NEXT_KEY_SECRET: &str = "next-bound-service-account-signing-key";
/// Its namespace.
pub const OPERATOR_NAMESPACE: &str = "openshift-kube-apiserver-operator";

/// `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn kids_phrase(kids: &[String]) -> String {
    match kids.len() {
        1 => format!("kid {}", kids[0]),
        _ => format!("kids {}", and_list(kids)),
    }
}

/// Builds printed commands from the context and the situation's known files.
struct Printer<'a> {
    situation: &'a Situation,
    context: &'a CommandContext,
}

impl Printer<'_> {
    /// A `--public-key-file` value for `kid`: its known file, else a placeholder.
    fn key_file(&self, kid: &str) -> Word {
        match Status::path_of(self.situation, kid) {
            Some(path) => Word::Arg(path.display().to_string()),
            None => Word::Raw(format!("<public key file of kid {kid}>")),
        }
    }

    /// `stsform VERB <settings> --public-key-file … [extra]`.
    fn stsform(&self, verb: &str, keys: &[Word], extra: &[&str]) -> Line {
        let mut words = vec![Word::Raw("stsform".into()), Word::Raw(verb.into())];
        let settings = if verb == "verify" {
            &self.context.verify_settings
        } else {
            &self.context.settings
        };
        words.extend(settings.iter().map(|s| {
            if s.starts_with("--") {
                Word::Raw(s.clone())
            } else {
                Word::Arg(s.clone())
            }
        }));
        for key in keys {
            words.push(Word::Raw("--public-key-file".into()));
            words.push(key.clone());
        }
        words.extend(extra.iter().map(|e| Word::Raw((*e).to_string())));
        Line(words)
    }

    fn files(&self, kids: &[String]) -> Vec<Word> {
        kids.iter().map(|k| self.key_file(k)).collect()
    }

    /// Plan, then apply, serving `keys`.
    fn plan_apply(&self, keys: &[Word], extra: &[&str]) -> Vec<Line> {
        vec![
            self.stsform("plan", keys, extra),
            self.stsform("apply", keys, extra),
        ]
    }

    /// Steps 1-4 of the documented procedure: a new key in the cluster, then phase 1.
    fn start(&self, served: &[String]) -> Vec<Step> {
        let new_file = self.context.new_key_file.display().to_string();
        let mut keys = self.files(served);
        keys.push(Word::Arg(new_file.clone()));
        vec![
            Step {
                title: "Check that the cluster is stable.".into(),
                lines: vec![Line::raw(
                    "oc adm wait-for-stable-cluster --minimum-stable-period=5s",
                )],
            },
            Step {
                title: "Have the kube-apiserver make a new signing key. It starts rolling the key \
                        out at once, and STS rejects the tokens signed with it until phase 1 is \
                        applied: run the next steps without a pause."
                    .into(),
                lines: vec![Line::raw(&format!(
                    "oc -n {OPERATOR_NAMESPACE} delete secrets/{NEXT_KEY_SECRET}"
                ))],
            },
            Step {
                title: "Save the new public key (if the secret is not there yet, the operator \
                        is still making it: run this again after a few seconds)."
                    .into(),
                lines: vec![{
                    let mut line = Line::raw(&format!(
                        "oc get -n {OPERATOR_NAMESPACE} secret/{NEXT_KEY_SECRET} -ojsonpath='{{ .data.service-account\\.pub }}' | base64 -d >"
                    ));
                    line.0.push(Word::Arg(new_file));
                    line
                }],
            },
            Step {
                title: "Phase 1, add: serve the current and the new key. Only keys.json changes; \
                        the plan shows the kid added."
                    .into(),
                lines: self.plan_apply(&keys, &[]),
            },
        ]
    }

    /// The documented waits before phase 2, then phase 2 serving `keep`, then a check.
    fn finish(&self, keep: &[String], retiring: &[String], verify_keys: &[String]) -> Vec<Step> {
        let deletes_pair = match &self.situation.key_pair {
            Some(kid) if retiring.contains(kid) => format!(
                " It also deletes the output dir's key pair (kid {kid}) and the installer's copy \
                 of its private key: keep a copy of {} elsewhere first if you want `stsform \
                 verify --retired-key-file COPY` to prove afterwards that its tokens are rejected.",
                self.situation.key_pair_file.display()
            ),
            _ => String::new(),
        };
        vec![
            Step {
                title: "Wait until the kube-apiserver has rolled out the new key (the operator \
                        reports Progressing until every instance uses it)."
                    .into(),
                lines: vec![Line::raw("oc adm wait-for-stable-cluster")],
            },
            Step {
                title: "Reboot every node, so that every pod holds a token signed with the new \
                        key, and wait for the cluster to settle."
                    .into(),
                lines: vec![
                    Line::raw("oc adm reboot-machine-config-pool mcp/worker mcp/master"),
                    Line::raw("oc adm wait-for-node-reboot nodes --all"),
                    Line::raw("oc adm wait-for-stable-cluster"),
                ],
            },
            Step {
                title: "Check the issuer while both keys are served.".into(),
                lines: vec![self.stsform("verify", &self.files(verify_keys), &[])],
            },
            Step {
                title: format!(
                    "Phase 2, retire: serve only the new key. Tokens signed with {} are rejected \
                     from then on, so the plan refuses without --allow-issuer-change.{deletes_pair}",
                    kids_phrase(retiring)
                ),
                lines: self.plan_apply(&self.files(keep), &["--allow-issuer-change"]),
            },
            Step {
                title: "Check that keys.json serves the new key alone (add --retired-key-file \
                        with a retired private key to prove that its tokens are rejected)."
                    .into(),
                lines: vec![self.stsform("verify", &self.files(keep), &[])],
            },
        ]
    }
}

/// What comes next, before it is printed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Next {
    /// Plan and apply the configured keys (nothing served yet).
    ApplyFirst,
    /// Plan only (keys.json serves nothing usable; the plan shows what apply serves).
    Look,
    /// The documented start: a new key in the cluster, then phase 1 with `served` + it.
    Start,
    /// Phase 1 with the configured keys.
    Phase1,
    /// Phase 1 with the served key and the new keys the settings name.
    Phase1With(Vec<String>),
    /// The waits, then phase 2 keeping `keep` and retiring `retiring`.
    Finish {
        keep: Vec<String>,
        retiring: Vec<String>,
    },
}

/// The stage, what comes next and the notes: the decision, without printing.
fn classify(situation: &Situation) -> (Stage, Next, Vec<String>) {
    let mut notes = Vec::new();
    let served: &[String] = match &situation.served {
        Served::Missing => {
            if situation.recorded.is_some() {
                notes.push(
                    "The state records keys.json, but the bucket does not serve it (deleted \
                     outside stsform?): apply puts it back."
                        .into(),
                );
            }
            return (Stage::NotApplied, Next::ApplyFirst, notes);
        }
        Served::Invalid(why) => {
            let why = format!(
                "keys.json is not a JWKS ({why}): STS cannot validate any token. The plan shows \
                 what apply would serve instead."
            );
            return (Stage::Blocked { why }, Next::Look, notes);
        }
        Served::Kids(kids) if kids.is_empty() => {
            let why = "keys.json serves no key: STS cannot validate any token.".to_string();
            return (Stage::Blocked { why }, Next::Look, notes);
        }
        Served::Kids(kids) => kids,
    };
    if let Some(recorded) = &situation.recorded
        && recorded != served
    {
        notes.push(format!(
            "keys.json was changed outside stsform since the last apply: the state recorded {}, \
             the bucket serves {}. This status follows the bucket.",
            kids_phrase(recorded),
            kids_phrase(served)
        ));
    }
    let newest = newest(served, situation.recorded.as_deref());
    let older: Vec<String> = served.iter().filter(|k| **k != newest).cloned().collect();
    // What the served keys call for when the settings ask for something else: start a
    // rotation when one key is served, finish the running one when several are.
    let served_next = if older.is_empty() {
        Next::Start
    } else {
        Next::Finish {
            keep: vec![newest.clone()],
            retiring: older.clone(),
        }
    };
    let blocked = |why: String| (Stage::Blocked { why }, served_next.clone());

    let wanted: Vec<String> = situation
        .configured
        .iter()
        .filter_map(|c| c.kid.clone())
        .collect();
    let generates = wanted.len() < situation.configured.len();
    let adding: Vec<String> = wanted
        .iter()
        .filter(|k| !served.contains(k))
        .cloned()
        .collect();
    let dropping: Vec<String> = served
        .iter()
        .filter(|k| !wanted.contains(k))
        .cloned()
        .collect();

    let (stage, next) = if generates {
        blocked(format!(
            "the output dir holds no key pair and no --public-key-file is given: apply would \
             generate a new key and serve only it, and STS would reject every token signed with \
             {}. Give the served keys' public key files.",
            kids_phrase(served)
        ))
    } else if adding.is_empty() && dropping.is_empty() {
        // The order of the settings does not matter: apply keeps keys.json's.
        match served_next {
            Next::Start => (Stage::Idle, Next::Start),
            next => (Stage::Overlap { retiring: older }, next),
        }
    } else if dropping.is_empty() {
        // Only additions: phase 1, unless a rotation is in progress.
        if !older.is_empty() {
            blocked(format!(
                "the settings add {} while a rotation is in progress (keys.json serves {}): \
                 finish it first by retiring every key but the newest.",
                kids_phrase(&adding),
                kids_phrase(served)
            ))
        } else {
            // Apply serves the new key after the current one, whatever the order given.
            (Stage::AddPending { adding }, Next::Phase1)
        }
    } else if adding.is_empty() {
        // Only removals: phase 2, if the newest key stays.
        if wanted.contains(&newest) {
            (
                Stage::RetirePending {
                    retiring: dropping.clone(),
                },
                Next::Finish {
                    keep: wanted,
                    retiring: dropping,
                },
            )
        } else {
            blocked(format!(
                "the settings drop {newest}, the newest served key, and keep {}: that undoes \
                 phase 1, and once the cluster signs with {newest} every token it issues would \
                 be rejected. Retire the older keys instead.",
                kids_phrase(&wanted)
            ))
        }
    } else {
        let why = if wanted.iter().any(|k| served.contains(k)) {
            format!(
                "the settings add {} and drop {} in one apply: a new key must be served alongside \
                 the current ones first, and the old ones retired only after the rollout.",
                kids_phrase(&adding),
                kids_phrase(&dropping)
            )
        } else {
            format!(
                "the settings replace {} with {} in one apply, which skips phase 1: STS would \
                 reject at once every token signed with the served keys, which the cluster \
                 issues until its rollout is over.",
                kids_phrase(served),
                kids_phrase(&adding)
            )
        };
        match served_next {
            // The next step is phase 1, with the new key the settings already name.
            Next::Start => (Stage::Blocked { why }, Next::Phase1With(adding)),
            _ => blocked(why),
        }
    };
    (stage, next, notes)
}

/// The newest of the `served` kids (not empty): the last one served that the state did
/// not record (`recorded`: added outside stsform, e.g. by the documented `jq` merge,
/// wherever it put it), else the last one served (stsform adds new keys last).
fn newest(served: &[String], recorded: Option<&[String]>) -> String {
    recorded
        .and_then(|recorded| served.iter().rev().find(|k| !recorded.contains(k)))
        .or(served.last())
        .expect("served is not empty")
        .clone()
}

/// Reads where the rotation stands and the next commands.
pub fn status(situation: &Situation, context: &CommandContext) -> Status {
    let printer = Printer { situation, context };
    let (stage, next, notes) = classify(situation);
    let served = match &situation.served {
        Served::Kids(kids) => kids.clone(),
        Served::Missing | Served::Invalid(_) => Vec::new(),
    };
    let configured: Vec<Word> = situation
        .configured
        .iter()
        .map(|c| Word::Arg(c.path.display().to_string()))
        .collect();
    let again = "Then run `stsform rotate-key` again";
    let (steps, then) = match next {
        Next::ApplyFirst => (
            vec![Step {
                title: "Apply first: nothing serves keys.json yet.".into(),
                lines: printer.plan_apply(&configured, &[]),
            }],
            format!("{again}."),
        ),
        Next::Look => (
            vec![Step {
                title: "See what apply would serve.".into(),
                lines: vec![printer.stsform("plan", &configured, &[])],
            }],
            format!("{again}."),
        ),
        Next::Start => (
            printer.start(&served),
            format!("{again} with the settings of step 4."),
        ),
        Next::Phase1 => (
            vec![Step {
                title: "Phase 1, add: apply now (the cluster may already sign with the new \
                        key). Only keys.json changes; the plan shows the kid added."
                    .into(),
                lines: printer.plan_apply(&configured, &[]),
            }],
            format!("{again} with these settings."),
        ),
        Next::Phase1With(adding) => {
            let mut keys = printer.files(&served);
            keys.extend(printer.files(&adding));
            (
                vec![Step {
                    title: "Phase 1, add: serve the current and the new key.".into(),
                    lines: printer.plan_apply(&keys, &[]),
                }],
                format!("{again} with the settings of this step."),
            )
        }
        Next::Finish { keep, retiring } => (
            printer.finish(&keep, &retiring, &served),
            "The rotation is then complete: keep serving the new key with the settings of the \
             last step."
                .into(),
        ),
    };
    Status {
        newest: (!served.is_empty()).then(|| newest(&served, situation.recorded.as_deref())),
        files: served
            .iter()
            .filter_map(|kid| Status::path_of(situation, kid).map(|p| (kid.clone(), p.clone())))
            .collect(),
        served,
        stage,
        notes,
        steps,
        then,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(s: &str) -> String {
        if s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c))
        {
            s.to_string()
        } else {
            format!("'{s}'")
        }
    }

    fn context() -> CommandContext {
        let verify = [
            "--name",
            "prod",
            "--region",
            "us-east-2",
            "--output-dir",
            "my install",
        ]
        .map(String::from)
        .to_vec();
        // verify takes no tags: its printed command leaves them out.
        let mut settings = verify.clone();
        settings.extend(["--user-tags".to_string(), "team=a".to_string()]);
        CommandContext {
            settings,
            verify_settings: verify,
            new_key_file: PathBuf::from("my install/serviceaccount-signer-2.public"),
        }
    }

    fn key(kid: &str, path: &str) -> Configured {
        Configured {
            kid: Some(kid.into()),
            path: path.into(),
        }
    }

    fn situation(served: &[&str], configured: Vec<Configured>) -> Situation {
        let served: Vec<String> = served.iter().map(|s| s.to_string()).collect();
        Situation {
            served: Served::Kids(served.clone()),
            recorded: Some(served),
            configured,
            known: vec![],
            key_pair: None,
            key_pair_file: "install/serviceaccount-signer.private".into(),
        }
    }

    fn lines(status: &Status) -> Vec<String> {
        status
            .steps
            .iter()
            .flat_map(|s| s.lines.iter().map(|l| l.render(&quote)))
            .collect()
    }

    const S: &str = "stsform apply --name prod --region us-east-2 --output-dir 'my install' --user-tags 'team=a'";

    /// The last `stsform apply` line: the phase the steps lead to.
    fn last_apply(status: &Status) -> String {
        lines(status)
            .into_iter()
            .rfind(|l| l.starts_with("stsform apply "))
            .unwrap()
    }

    #[test]
    fn one_key_served_starts_with_the_documented_oc_steps_then_phase_1() {
        let status = status(&situation(&["A"], vec![key("A", "a.pub")]), &context());
        assert_eq!(status.stage, Stage::Idle);
        assert_eq!(status.newest.as_deref(), Some("A"));
        let lines = lines(&status);
        assert_eq!(
            lines[..3],
            [
                "oc adm wait-for-stable-cluster --minimum-stable-period=5s",
                "oc -n openshift-kube-apiserver-operator delete secrets/next-bound-service-account-signing-key",
                "oc get -n openshift-kube-apiserver-operator secret/next-bound-service-account-signing-key -ojsonpath='{ .data.service-account\\.pub }' | base64 -d > 'my install/serviceaccount-signer-2.public'",
            ]
        );
        // Phase 1: the current key first, the new one last; no flag lifts a refusal.
        assert_eq!(
            lines[4],
            format!(
                "{S} --public-key-file a.pub --public-key-file 'my install/serviceaccount-signer-2.public'"
            )
        );
        assert_eq!(lines[3], lines[4].replacen(" apply ", " plan ", 1));
        assert!(!lines.iter().any(|l| l.contains("--allow-issuer-change")));
    }

    #[test]
    fn settings_adding_a_key_make_phase_1_next() {
        let s = situation(&["A"], vec![key("A", "a.pub"), key("B", "b.pub")]);
        let status = status(&s, &context());
        assert_eq!(
            status.stage,
            Stage::AddPending {
                adding: vec!["B".into()]
            }
        );
        assert_eq!(
            lines(&status),
            [
                format!("{S} --public-key-file a.pub --public-key-file b.pub")
                    .replacen(" apply ", " plan ", 1),
                format!("{S} --public-key-file a.pub --public-key-file b.pub"),
            ]
        );
        assert!(status.notes.is_empty());
        // The new key listed first: apply still serves it after the current one.
        let s = situation(&["A"], vec![key("B", "b.pub"), key("A", "a.pub")]);
        let status = super::status(&s, &context());
        assert_eq!(
            status.stage,
            Stage::AddPending {
                adding: vec!["B".into()]
            }
        );
        assert!(status.notes.is_empty(), "{:?}", status.notes);
    }

    #[test]
    fn a_key_merged_in_outside_stsform_is_the_newest_wherever_it_is_served() {
        // The documented jq merge put the cluster's new key B first; the state recorded A.
        let mut s = situation(&["B", "A"], vec![key("A", "a.pub"), key("B", "b.pub")]);
        s.recorded = Some(vec!["A".into()]);
        let status = status(&s, &context());
        assert_eq!(status.newest.as_deref(), Some("B"));
        assert_eq!(
            status.stage,
            Stage::Overlap {
                retiring: vec!["A".into()]
            }
        );
        assert_eq!(
            last_apply(&status),
            format!("{S} --public-key-file b.pub --allow-issuer-change")
        );
        assert!(
            status.notes[0].contains("changed outside stsform"),
            "{:?}",
            status.notes
        );
        // Settings that keep A alone would drop the newest key: not phase 2.
        s.configured = vec![key("A", "a.pub")];
        let status = super::status(&s, &context());
        assert!(
            matches!(&status.stage, Stage::Blocked { why } if why.contains("drop B, the newest")),
            "{:?}",
            status.stage
        );
        // What stsform wrote itself: the last served key is the newest.
        let s = situation(&["B", "A"], vec![key("A", "a.pub"), key("B", "b.pub")]);
        assert_eq!(status_newest(&s), Some("A".to_string()));
    }

    fn status_newest(s: &Situation) -> Option<String> {
        status(s, &context()).newest
    }

    #[test]
    fn both_served_waits_for_rollout_and_reboots_before_phase_2() {
        let s = situation(&["A", "B"], vec![key("A", "a.pub"), key("B", "b.pub")]);
        let status = status(&s, &context());
        assert_eq!(
            status.stage,
            Stage::Overlap {
                retiring: vec!["A".into()]
            }
        );
        assert_eq!(status.newest.as_deref(), Some("B"));
        let lines = lines(&status);
        assert_eq!(
            lines[..4],
            [
                "oc adm wait-for-stable-cluster",
                "oc adm reboot-machine-config-pool mcp/worker mcp/master",
                "oc adm wait-for-node-reboot nodes --all",
                "oc adm wait-for-stable-cluster",
            ]
        );
        assert_eq!(
            lines[4],
            "stsform verify --name prod --region us-east-2 --output-dir 'my install' --public-key-file a.pub --public-key-file b.pub"
        );
        assert_eq!(
            lines[6],
            format!("{S} --public-key-file b.pub --allow-issuer-change")
        );
        assert!(
            status.steps[3]
                .title
                .contains("Tokens signed with kid A are rejected")
        );
        assert!(!status.steps[3].title.contains("key pair"));
        assert_eq!(
            lines[7],
            "stsform verify --name prod --region us-east-2 --output-dir 'my install' --public-key-file b.pub"
        );
        // Retiring the key pair stsform manages deletes it: said before phase 2.
        let mut s = s;
        s.key_pair = Some("A".into());
        let status = super::status(&s, &context());
        assert!(
            status.steps[3]
                .title
                .contains("It also deletes the output dir's key pair (kid A)"),
            "{}",
            status.steps[3].title
        );
    }

    #[test]
    fn settings_keeping_only_the_newest_make_phase_2_next() {
        let s = situation(&["A", "B"], vec![key("B", "b.pub")]);
        let status = status(&s, &context());
        assert_eq!(
            status.stage,
            Stage::RetirePending {
                retiring: vec!["A".into()]
            }
        );
        let lines = lines(&status);
        assert_eq!(
            last_apply(&status),
            format!("{S} --public-key-file b.pub --allow-issuer-change")
        );
        // The served key the settings dropped is named by placeholder in verify.
        assert!(
            lines[4]
                .contains("--public-key-file <public key file of kid A> --public-key-file b.pub")
        );
    }

    #[test]
    fn a_phase_is_never_skipped() {
        // Replace without overlap: phase 1 with both keys comes first.
        let s = situation(&["A"], vec![key("B", "b.pub")]);
        let mut with_file = s.clone();
        with_file.known = vec![("A".into(), "install/serviceaccount-signer.public".into())];
        let status = status(&with_file, &context());
        let Stage::Blocked { why } = &status.stage else {
            panic!("{:?}", status.stage)
        };
        assert!(why.contains("skips phase 1"), "{why}");
        assert_eq!(
            lines(&status)[1],
            format!(
                "{S} --public-key-file install/serviceaccount-signer.public --public-key-file b.pub"
            )
        );

        // Dropping the newest key: phase 2 keeps the newest.
        let s = situation(&["A", "B"], vec![key("A", "a.pub")]);
        let status = super::status(&s, &context());
        let Stage::Blocked { why } = &status.stage else {
            panic!()
        };
        assert!(why.contains("drop B, the newest served key"), "{why}");
        assert_eq!(
            last_apply(&status),
            format!("{S} --public-key-file <public key file of kid B> --allow-issuer-change")
        );

        // A second rotation before the first is retired, and add + retire at once.
        for configured in [
            vec![key("A", "a.pub"), key("B", "b.pub"), key("C", "c.pub")],
            vec![key("B", "b.pub"), key("C", "c.pub")],
            vec![key("C", "c.pub")],
        ] {
            let s = situation(&["A", "B"], configured);
            let status = super::status(&s, &context());
            assert!(
                matches!(status.stage, Stage::Blocked { .. }),
                "{:?}",
                status.stage
            );
            let lines = lines(&status);
            // Phase 2 of the running rotation keeps B, by its file when the settings
            // still name it.
            let last = last_apply(&status);
            assert!(
                last.ends_with("--public-key-file b.pub --allow-issuer-change")
                    || last.ends_with(
                        "--public-key-file <public key file of kid B> --allow-issuer-change"
                    ),
                "{lines:?}"
            );
            assert!(!lines.iter().any(|l| l.contains("c.pub")), "{lines:?}");
        }
    }

    #[test]
    fn a_generated_key_over_a_served_one_is_blocked() {
        let s = situation(
            &["A"],
            vec![Configured {
                kid: None,
                path: "install/serviceaccount-signer.public".into(),
            }],
        );
        let status = status(&s, &context());
        let Stage::Blocked { why } = &status.stage else {
            panic!()
        };
        assert!(why.contains("generate a new key"), "{why}");
        // Starting a rotation properly is what is shown.
        assert!(
            lines(&status)[1].contains("delete secrets/next-bound-service-account-signing-key")
        );
    }

    #[test]
    fn nothing_served_drift_and_garbage() {
        let mut s = situation(&[], vec![key("A", "a.pub")]);
        s.served = Served::Missing;
        s.recorded = None;
        let status = status(&s, &context());
        assert_eq!(status.stage, Stage::NotApplied);
        assert!(status.notes.is_empty());
        assert_eq!(lines(&status)[1], format!("{S} --public-key-file a.pub"));

        s.recorded = Some(vec!["A".into()]);
        assert!(super::status(&s, &context()).notes[0].contains("does not serve it"));

        s.served = Served::Invalid("not valid JSON".into());
        assert!(matches!(
            super::status(&s, &context()).stage,
            Stage::Blocked { why } if why.contains("not a JWKS (not valid JSON)")
        ));

        // Phase 1 done by hand (the documented jq procedure): followed, and said.
        let mut s = situation(&["A", "B"], vec![key("A", "a.pub"), key("B", "b.pub")]);
        s.recorded = Some(vec!["A".into()]);
        let status = super::status(&s, &context());
        assert!(matches!(status.stage, Stage::Overlap { .. }));
        assert!(
            status.notes[0].contains("changed outside stsform"),
            "{:?}",
            status.notes
        );
        assert!(
            status.notes[0].contains("the state recorded kid A, the bucket serves kids A and B")
        );
    }

    #[test]
    fn three_served_keys_retire_all_but_the_newest() {
        let s = situation(
            &["A", "B", "C"],
            vec![key("A", "a.pub"), key("B", "b.pub"), key("C", "c.pub")],
        );
        let status = status(&s, &context());
        assert_eq!(
            status.stage,
            Stage::Overlap {
                retiring: vec!["A".into(), "B".into()]
            }
        );
        assert!(status.steps[3].title.contains("kids A and B"));
        // Retiring only the oldest is a valid phase 2 too.
        let s = situation(&["A", "B", "C"], vec![key("B", "b.pub"), key("C", "c.pub")]);
        assert_eq!(
            super::status(&s, &context()).stage,
            Stage::RetirePending {
                retiring: vec!["A".into()]
            }
        );
    }
}
