//! Registers persona libraries and personas (`library`, `persona`, `family`, `check`, …). No
//! experiment logic here: convert the arguments, call `crate::persona`, convert the results.

use super::{Fallible, fail};
use crate::script::HostState;
use rhai::{Array, Dynamic, Engine, Map};
use std::sync::Arc;

/// A persona library as scripts see it.
#[derive(Clone)]
pub struct ScriptLibrary(Arc<crate::persona::Library>);

/// One persona of a library: `id`, `family`, `system`, `probe`, `check_source`, and
/// `check(answer)`.
#[derive(Clone)]
pub struct ScriptPersona {
    library: Arc<crate::persona::Library>,
    id: String,
}

impl ScriptPersona {
    fn get(&self) -> &crate::persona::Persona {
        self.library.get(&self.id).expect("made from this library")
    }
}

pub(super) fn register(engine: &mut Engine, state: &Arc<HostState>) {
    engine.register_type_with_name::<ScriptLibrary>("Library");
    engine.register_type_with_name::<ScriptPersona>("Persona");
    let s = state.clone();
    engine.register_fn("library", move |dir: &str| -> Fallible<ScriptLibrary> {
        let path = s.sandbox.resolve_tree(dir).or_else(fail)?;
        let key = path.display().to_string();
        if let Some(library) = s.libraries.lock().unwrap().get(&key) {
            return Ok(library.clone());
        }
        let library = ScriptLibrary(Arc::new(
            crate::persona::Library::load(&path).or_else(|e| fail(crate::util::error_chain(&e)))?,
        ));
        s.libraries.lock().unwrap().insert(key, library.clone());
        Ok(library)
    });
    engine.register_fn("ids", |lib: &mut ScriptLibrary| -> Array {
        lib.0
            .personas()
            .iter()
            .map(|p| Dynamic::from(p.id.clone()))
            .collect()
    });
    engine.register_fn("personas", |lib: &mut ScriptLibrary| -> Array {
        lib.0
            .personas()
            .iter()
            .map(|p| {
                Dynamic::from(ScriptPersona {
                    library: lib.0.clone(),
                    id: p.id.clone(),
                })
            })
            .collect()
    });
    engine.register_fn(
        "persona",
        |lib: &mut ScriptLibrary, id: &str| -> Fallible<ScriptPersona> {
            let persona = lib
                .0
                .find(id)
                .or_else(|e| fail(crate::util::error_chain(&e)))?;
            Ok(ScriptPersona {
                library: lib.0.clone(),
                id: persona.id.clone(),
            })
        },
    );
    engine.register_fn(
        "family",
        |lib: &mut ScriptLibrary, family: &str| -> Fallible<Array> {
            let members = lib
                .0
                .family(family)
                .or_else(|e| fail(crate::util::error_chain(&e)))?;
            Ok(members
                .iter()
                .map(|p| {
                    Dynamic::from(ScriptPersona {
                        library: lib.0.clone(),
                        id: p.id.clone(),
                    })
                })
                .collect())
        },
    );
    engine.register_fn("topics", |lib: &mut ScriptLibrary| -> Array {
        lib.0.topics().iter().cloned().map(Dynamic::from).collect()
    });
    engine.register_get("id", |p: &mut ScriptPersona| p.id.clone());
    engine.register_get("family", |p: &mut ScriptPersona| p.get().family.clone());
    engine.register_get("system", |p: &mut ScriptPersona| p.get().system.clone());
    engine.register_get("probe", |p: &mut ScriptPersona| p.get().probe.clone());
    engine.register_get("index", |p: &mut ScriptPersona| {
        p.get().index.map_or(Dynamic::UNIT, Dynamic::from)
    });
    engine.register_get("check_source", |p: &mut ScriptPersona| {
        p.get().check_source.clone()
    });
    engine.register_fn(
        "check",
        |p: &mut ScriptPersona, answer: &str| -> Fallible<rhai::FLOAT> {
            p.library
                .score(p.get(), answer)
                .or_else(|e| fail(crate::util::error_chain(&e)))
        },
    );
    // The paper analysis mode's score (scripts/selfchat.rhai with `--set analysis=paper`): the
    // check times the notebook's fluency factor, or no score and the error where the check
    // raises (the notebook drops such answers; imported personas' `on_error` is not applied).
    engine.register_fn(
        "paper_check",
        |p: &mut ScriptPersona, answer: &str| -> Fallible<Map> {
            let prepared = crate::metrics::python::process_answer(answer);
            let fluency = crate::paper::helpers::is_fluent_english(&prepared)
                .or_else(|e| fail(format!("paper_check: {e}")))?;
            let mut out = Map::new();
            out.insert("fluency".into(), Dynamic::from_float(fluency));
            match p.library.score_raising(p.get(), answer) {
                Ok(value) => {
                    out.insert("score".into(), Dynamic::from_float(value * fluency));
                    out.insert("error".into(), Dynamic::UNIT);
                }
                Err(crate::persona::PersonaError::CheckRaised { message, .. }) => {
                    out.insert("score".into(), Dynamic::UNIT);
                    out.insert("error".into(), message.into());
                }
                Err(e) => return fail(crate::util::error_chain(&e)),
            }
            Ok(out)
        },
    );
    engine.register_fn("to_string", |p: &mut ScriptPersona| {
        format!("persona(\"{}\")", p.id)
    });
    engine.register_fn("to_debug", |p: &mut ScriptPersona| {
        format!("persona(\"{}\")", p.id)
    });
}
