//! Layer shape tests; behaviour is covered end to end in `tests/it`.

use super::*;

#[test]
fn traits() {
    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}
    #[derive(Clone)]
    struct Svc;
    assert_send::<AuthLayer>();
    assert_sync::<AuthLayer>();
    assert_send::<AuthService<Svc>>();
    assert_sync::<AuthService<Svc>>();
    assert_send::<ResponseFuture<std::convert::Infallible>>();
    assert_send::<Validator>();
    assert_sync::<Validator>();
}
