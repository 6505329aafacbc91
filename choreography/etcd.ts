/**
 * The etcd client as elections need it: every call has a short deadline, a
 * failing host is retried after one second (not the library's five), and no
 * call is retried behind the caller's back: the election loop owns retrying,
 * because it must know how old its last successful keepalive is.
 */
import { ConsecutiveBreaker, circuitBreaker, handleWhen, noop } from 'cockatiel';
import { Etcd3, isRecoverableError } from 'etcd3';

/** Default deadline of a unary etcd call, in ms. */
export const ETCD_CALL_TIMEOUT_MS = 2000;

export function connectEtcd(url: string): Etcd3 {
  return new Etcd3({
    hosts: url,
    dialTimeout: ETCD_CALL_TIMEOUT_MS,
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS },
    faultHandling: {
      host: () =>
        circuitBreaker(handleWhen(isRecoverableError), {
          halfOpenAfter: 1000,
          breaker: new ConsecutiveBreaker(3),
        }),
      global: noop,
    },
  });
}

export type { Etcd3 };
