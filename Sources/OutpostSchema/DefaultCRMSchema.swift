import Foundation

extension Schema {
    /// The default CRM schema: accounts, contacts, deals, activities, tasks, products, price list.
    ///
    /// Field names are part of the command contract (scripts and CSV files use them): add
    /// fields freely, rename none. `outpost schema` prints this file; `protocol/schema.md` explains it.
    public static let crm: Schema = {
        do { return try Schema(json: Data(crmJSON.utf8)) } catch { fatalError("the built-in CRM schema is invalid: \(error)") }
    }()

    /// The default CRM schema as a schema file.
    public static let crmJSON = #"""
    {
      "format": "outpost-schema/1",
      "version": 1,
      "collections": [
        {
          "name": "accounts",
          "delete": "update-wins",
          "scope": ["owner", "branch", "region"],
          "fields": [
            {"name": "name", "type": "string", "required": true},
            {"name": "kind", "type": "string", "values": ["customer", "prospect", "supplier", "partner", "competitor"]},
            {"name": "legal_form", "type": "string", "values": ["legal-entity", "person"]},
            {"name": "tax_id", "type": "string"},
            {"name": "phone", "type": "string"},
            {"name": "email", "type": "string"},
            {"name": "address", "type": "string"},
            {"name": "city", "type": "string"},
            {"name": "region", "type": "string"},
            {"name": "branch", "type": "string"},
            {"name": "owner", "type": "string"},
            {"name": "tags", "type": "set"},
            {"name": "status", "type": "string", "values": ["active", "dormant", "closed"], "rule": "manual", "default": "active"}
          ],
          "groups": [
            {"name": "postal_address", "members": ["address", "city"], "rule": "lww"}
          ],
          "duplicates": [
            {"name": "tax_id", "fields": ["tax_id"], "normalize": "alnum"},
            {"name": "phone", "fields": ["phone"], "normalize": "phone"},
            {"name": "email", "fields": ["email"], "normalize": "email"},
            {"name": "name_city", "fields": ["name", "city"], "normalize": "text"}
          ]
        },
        {
          "name": "contacts",
          "parent": "account_id",
          "fields": [
            {"name": "account_id", "type": "reference", "collection": "accounts", "required": true},
            {"name": "name", "type": "string", "required": true},
            {"name": "position", "type": "string"},
            {"name": "phone", "type": "string"},
            {"name": "email", "type": "string"},
            {"name": "notes", "type": "text"}
          ],
          "duplicates": [
            {"name": "phone", "fields": ["phone"], "normalize": "phone"},
            {"name": "email", "fields": ["email"], "normalize": "email"}
          ]
        },
        {
          "name": "deals",
          "parent": "account_id",
          "fields": [
            {"name": "account_id", "type": "reference", "collection": "accounts", "required": true},
            {"name": "title", "type": "string", "required": true},
            {"name": "stage", "type": "string", "rule": "manual",
             "values": ["lead", "qualified", "proposal", "negotiation", "contract", "won", "lost"]},
            {"name": "amount", "type": "decimal"},
            {"name": "currency", "type": "string"},
            {"name": "expected_close", "type": "date"},
            {"name": "owner", "type": "string"},
            {"name": "probability", "type": "integer"}
          ],
          "groups": [
            {"name": "money", "members": ["amount", "currency"], "rule": "lww"}
          ]
        },
        {
          "name": "activities",
          "parent": "account_id",
          "fields": [
            {"name": "account_id", "type": "reference", "collection": "accounts", "required": true},
            {"name": "contact_id", "type": "reference", "collection": "contacts"},
            {"name": "kind", "type": "string", "required": true, "values": ["call", "meeting", "email", "visit"]},
            {"name": "at", "type": "timestamp", "required": true, "default": "now"},
            {"name": "duration_min", "type": "integer"},
            {"name": "summary", "type": "text"},
            {"name": "outcome", "type": "text"}
          ]
        },
        {
          "name": "tasks",
          "parent": "account_id",
          "fields": [
            {"name": "title", "type": "string", "required": true},
            {"name": "due_at", "type": "timestamp"},
            {"name": "assignee", "type": "string"},
            {"name": "status", "type": "string", "values": ["open", "done", "cancelled"], "default": "open"},
            {"name": "account_id", "type": "reference", "collection": "accounts"},
            {"name": "related_id", "type": "uuid"},
            {"name": "comment", "type": "text"}
          ]
        },
        {
          "name": "products",
          "reference_data": true,
          "delete": "delete-wins",
          "fields": [
            {"name": "name", "type": "string", "required": true},
            {"name": "sku", "type": "string"},
            {"name": "unit", "type": "string"}
          ],
          "duplicates": [
            {"name": "sku", "fields": ["sku"], "normalize": "alnum"}
          ]
        },
        {
          "name": "price_list",
          "reference_data": true,
          "delete": "delete-wins",
          "parent": "product_id",
          "fields": [
            {"name": "product_id", "type": "reference", "collection": "products", "required": true},
            {"name": "price", "type": "decimal", "required": true},
            {"name": "currency", "type": "string", "required": true}
          ],
          "groups": [
            {"name": "money", "members": ["price", "currency"], "rule": "lww"}
          ]
        }
      ]
    }
    """#
}
