import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

/**
 * What the production deployment runs, read from docker-compose.yml: the file an operator deploys
 * is the one place versions are written, and `npm run cluster` runs the same ones, so the two
 * cannot drift apart.
 */
export interface Deployment {
  temporalServer: string;
  temporalUi: string;
  postgres: string;
  namespaceRetentionSeconds: number;
}

interface ComposeService {
  image?: string;
  environment?: Record<string, string>;
}

/**
 * Compose's `${NAME:-default}` and `${NAME}` substitution, with the same environment compose would
 * see, so a variable that changes what compose runs changes what the cluster runs too. Any other
 * form fails loudly instead of yielding a wrong version.
 */
function interpolate(value: string, env: NodeJS.ProcessEnv): string {
  const result = value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (_, name: string, fallback: string | undefined) => env[name] || (fallback ?? ''),
  );
  if (result.includes('$')) throw new Error(`docker-compose.yml: cannot interpolate "${value}"`);
  return result;
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

function seconds(duration: string): number {
  const match = /^(\d+)([smhd])$/.exec(duration);
  if (!match) throw new Error(`docker-compose.yml: "${duration}" is not a duration like 30d`);
  return Number(match[1]) * DURATION_UNITS[match[2]!]!;
}

export function readDeployment(root: string, env: NodeJS.ProcessEnv = process.env): Deployment {
  const file = path.join(root, 'docker-compose.yml');
  const services = (YAML.parse(readFileSync(file, 'utf8')) as { services: Record<string, ComposeService> })
    .services;
  const service = (name: string): ComposeService => {
    const found = services[name];
    if (!found) throw new Error(`${file} has no service "${name}"`);
    return found;
  };
  const tag = (name: string): string => {
    const image = interpolate(service(name).image ?? '', env);
    // The tag follows the last colon after the last slash (a registry host may carry a port).
    const tagAt = image.lastIndexOf(':');
    if (tagAt <= image.lastIndexOf('/')) throw new Error(`${file}: the ${name} image "${image}" has no tag`);
    return image.slice(tagAt + 1);
  };
  const retention = service('temporal-setup').environment?.TEMPORAL_NAMESPACE_RETENTION;
  if (!retention) throw new Error(`${file}: temporal-setup sets no TEMPORAL_NAMESPACE_RETENTION`);
  return {
    temporalServer: tag('temporal'),
    temporalUi: tag('temporal-ui'),
    postgres: tag('postgresql'),
    namespaceRetentionSeconds: seconds(interpolate(retention, env)),
  };
}
