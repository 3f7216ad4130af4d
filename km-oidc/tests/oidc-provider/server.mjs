// A real oidc-provider for km-oidc's interop tests.
// Usage: node server.mjs [port]   (0 or absent: a free port)
// Prints one line `LISTENING http://127.0.0.1:<port>` once it accepts requests.
// State is in memory; the process is owned by the test that spawned it.
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const INITIAL_ACCESS_TOKEN = process.env.OIDC_INITIAL_ACCESS_TOKEN || 'keyprov-initial-access-token';
export const JWT_RESOURCE = 'urn:keyprov:jwt';
export const OPAQUE_RESOURCE = 'urn:keyprov:opaque';

const server = createServer();
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const provider = new Provider(issuer, {
    jwks: { keys: [{ ...rsa, kid: 'rs256-1', use: 'sig', alg: 'RS256' }] },
    clientDefaults: {
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    scopes: ['read', 'write'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      registration: { enabled: true, initialAccessToken: INITIAL_ACCESS_TOKEN },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          if (resourceIndicator === JWT_RESOURCE) {
            return {
              scope: 'read write',
              audience: JWT_RESOURCE,
              accessTokenTTL: 600,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: 'RS256' } },
            };
          }
          if (resourceIndicator === OPAQUE_RESOURCE) {
            return { scope: 'read write', audience: OPAQUE_RESOURCE, accessTokenTTL: 600, accessTokenFormat: 'opaque' };
          }
          throw new errors.InvalidTarget();
        },
      },
    },
  });
  server.on('request', provider.callback());
  console.log(`LISTENING ${issuer}`);
});

process.on('SIGTERM', () => process.exit(0));
