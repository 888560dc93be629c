//! `access.feature`: only the CEO gives orders.

use cucumber::then;

use super::{ensure, fail, Outcome};
use crate::Company;

#[then(regex = r#"^the answer is a (\d{3}) problem with the code "([^"]*)"$"#)]
async fn problem(world: &mut Company, status: u16, code: String) -> Outcome {
    let Some(answer) = world.answers.last() else {
        return fail("nothing was asked yet".to_owned());
    };
    let answer = answer.clone().expect(status)?;
    ensure(
        answer.content_type.as_deref() == Some("application/problem+json"),
        || {
            format!(
                "a problem is application/problem+json, not {:?}",
                answer.content_type
            )
        },
    )?;
    let body = answer.json()?;
    ensure(
        body["code"] == code.as_str()
            && body["status"] == status
            && body["type"] == format!("urn:agentos:problem:{code}"),
        || format!("the problem should be {status} {code}: {body:#}"),
    )
}
