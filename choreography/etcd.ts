/**
 * The etcd client as elections need it: every call has a short deadline and
 * no call is retried behind the caller's back: the election loop owns
 * retrying, because it must know how old its last successful keepalive is.
 * With several hosts a failing one is set aside for a second (a circuit
 * breaker, so calls go to the others); with one host there is nowhere else to
 * go, and a breaker would only turn a slow second into a dead one for every
 * lease of the process at once.
 */
import { ConsecutiveBreaker, circuitBreaker, handleWhen, noop } from 'cockatiel';
import { Etcd3, isRecoverableError } from 'etcd3';

/** Default deadline of a unary etcd call, in ms. */
export const ETCD_CALL_TIMEOUT_MS = 2000;

export function connectEtcd(url: string): Etcd3 {
  const hosts = url.split(',').map((h) => h.trim());
  return new Etcd3({
    hosts,
    dialTimeout: ETCD_CALL_TIMEOUT_MS,
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS },
    faultHandling: {
      host: () =>
        hosts.length > 1
          ? circuitBreaker(handleWhen(isRecoverableError), {
              halfOpenAfter: 1000,
              breaker: new ConsecutiveBreaker(3),
            })
          : noop,
      global: noop,
    },
  });
}

export type { Etcd3 };
