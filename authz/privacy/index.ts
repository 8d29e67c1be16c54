export {
  readPrivacyKey,
  privacyKeyOf,
  KEY_PURPOSES,
  PRIVACY_KEY_MIN_BYTES,
  PRIVACY_KEY_SETTING,
  type PrivacyKey,
  type KeyPurpose,
} from './privacy-key.js';
export { writePrivateFile, ensurePrivateDir, PRIVATE_FILE_MODE, PRIVATE_DIR_MODE } from './private-file.js';
