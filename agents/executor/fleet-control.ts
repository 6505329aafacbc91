/**
 * Finding the remediation API of an environment: its discovery source
 * announces the controller's URL (`controlUrl`, or the discovery URL itself),
 * and the token comes from configuration (never from the bucket).
 */
import { fleetToken } from '../../config/index.ts';
import type { Config } from '../../config/index.ts';
import type { Bus } from '../../choreography/index.ts';
import { listSources, openDiscovery } from '../collector/index.ts';
import { FleetDriver } from './drivers/fleet-driver.ts';

/** An environment's controller: its driver, and the discovery URL listing its replicas. */
export interface FleetControl {
  readonly driver: FleetDriver;
  readonly discoveryUrl: string;
}

/** The controller of `environment`, or undefined when no source announces one. */
export async function fleetControlOf(
  bus: Bus,
  config: Config,
  environment: string,
): Promise<FleetControl | undefined> {
  const { sources } = await listSources(bus, await openDiscovery(bus));
  const source = sources.find((s) => s.environment === environment);
  if (!source) return undefined;
  return {
    driver: new FleetDriver({ url: source.controlUrl ?? source.url, token: fleetToken(config) }),
    discoveryUrl: source.url,
  };
}
