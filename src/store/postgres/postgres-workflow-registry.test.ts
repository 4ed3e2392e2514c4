import { postgresContractStores } from "../../../tests/support/test-db.ts";
import { workflowRegistryContract } from "../workflow-registry.contract.ts";

workflowRegistryContract("postgres", postgresContractStores());
